#!/usr/bin/env python3
"""Generates the spoken-keyword data set offline with espeak-ng and sox (issue 8).

Twelve classes, in label order (docs: /tmp/kws_spec.md, mirrored in zoo/kws/README.md):
_silence_, _unknown_, yes, no, up, down, left, right, on, off, stop, go -- the 12-class task
of Google Speech Commands (Warden 2018, arXiv:1804.03209) as used by Hello Edge
(Zhang et al. 2017, arXiv:1711.07128).

A "speaker" is an espeak-ng voice (an English accent, or another language reading the
English text, which gives a foreign accent) combined with a voice variant (+m1, +f3, +klatt,
...). Speakers are split disjointly into train / validation / test. Each keyword or unknown
clip is one word by one speaker at a random speed and pitch, placed at a random time in the
1 s clip, mixed by sox with white, pink or brown noise at a random SNR and scaled to a random
peak level. Silence clips are noise only. The noise comes from one long sox-synthesised
recording per colour (repeatable: sox -R), cut into disjoint time ranges per split.

Output (16 kHz mono 16-bit PCM, exactly 16000 samples per clip):
    OUT/{train,validation,test}/<class>/<speaker>_<k>.wav
    OUT/manifest.csv  (split,class,speaker,file; file relative to OUT)
and, with --examples DIR, one test-speaker clip per class (DIR/<class>.wav) and a ~10 s
stream of keywords in noise (DIR/stream.wav, with DIR/stream.txt: start_s end_s word).

Every random choice is drawn in this process from numpy's Generator seeded by --seed, before
any audio is made, so the same seed gives byte-identical files whatever --jobs is (espeak-ng
is deterministic; sox runs with -R, repeatable noise, and -D, no dither). Run with the project venv:

    .venv/bin/python scripts/make_kws_dataset.py --out data/kws --seed 1 --jobs 2
"""

import argparse
import concurrent.futures
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off",
           "stop", "go"]
KEYWORDS = CLASSES[2:]
# Other words of Speech Commands v2, plus near-misses of the keywords (sharing a vowel or
# consonant cluster), so that "unknown" is not trivially far from the keywords.
UNKNOWN_WORDS = [
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "backward", "forward", "follow", "learn", "visual",
    "yet", "yeah", "yell", "less", "know", "note", "now", "nope", "cup", "pup", "town",
    "dawn", "lift", "loft", "light", "write", "bright", "ride", "own", "often", "cough",
    "stock", "top", "stuff", "goal", "ghost", "goat", "dough", "under", "love", "bat",
]
# espeak-ng 1.51 voices: English accents, and other languages reading the English words.
ENGLISH_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ACCENT_VOICES = ["de", "nl", "sv", "da", "it", "es", "pl", "fr-fr"]
# Voice variants in espeak-ng-data/voices/!v (the one with a space in its name left out).
VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Demonic", "Denis", "Diogo",
    "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike",
    "Nguyen", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "UniRobot",
    "adam", "anika", "anikaRobot", "announcer", "antonio", "aunty", "belinda", "benjamin",
    "boris", "caleb", "croak", "david", "ed", "edward", "edward2", "fast", "grandma",
    "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt",
    "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "marcelo", "max", "michel",
    "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "robosoft",
    "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7", "robosoft8",
    "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "whisper", "whisperf",
    "zac",
]
SPLITS = ["train", "validation", "test"]
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
NOISES = ["white", "pink", "brown"]
RATE = 16000
CLIP = 16000                # samples per clip
NOISE_SECONDS = 120         # per colour; split into disjoint per-split time ranges
SPEED_WPM = (110, 240)      # espeak-ng -s (default 175)
PITCH = (15, 85)            # espeak-ng -p (default 50)
SNR_DB = (3.0, 35.0)        # speech to noise, on the active speech
PEAK_DB = (-20.0, -0.5)     # peak level of a keyword/unknown clip
SILENCE_PEAK_DB = (-55.0, -10.0)
MAX_WORD_S = 0.95           # longer words are re-synthesised faster


@dataclass
class Clip:
    split: str
    label: str
    speaker: str            # "voice+variant", or "noise-<split>" for silence
    path: str               # relative to OUT
    word: str               # "" for silence
    speed: int
    pitch: int
    place: float            # where in the free time the word starts, in [0, 1)
    noise: str
    noise_offset: float     # seconds into the noise recording
    snr_db: float
    peak_db: float


def run(cmd):
    """Runs a command; on failure raises with its stderr (the tool and the arguments)."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise RuntimeError(f"{path}: expected 16-bit mono, got {w.getsampwidth() * 8}-bit "
                               f"{w.getnchannels()} channels")
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    return x, rate


def speakers_by_split(rng, small):
    voices = ENGLISH_VOICES + ACCENT_VOICES
    pool = [f"{v}+{var}" for v in voices for var in VARIANTS]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    if small:
        pool = pool[:40]
    n_test = max(1, round(len(pool) * SPLIT_FRACTIONS["test"]))
    n_val = max(1, round(len(pool) * SPLIT_FRACTIONS["validation"]))
    return {"test": pool[:n_test], "validation": pool[n_test:n_test + n_val],
            "train": pool[n_test + n_val:]}


def noise_range(split):
    """The disjoint time range [begin, end) s of each noise recording that a split uses."""
    begin = 0.0
    for s in SPLITS:
        end = begin + NOISE_SECONDS * SPLIT_FRACTIONS[s]
        if s == split:
            return begin, end
        begin = end
    raise ValueError(split)


def plan(rng, per_class, small):
    """Every clip of the data set with all its random choices, in a fixed order."""
    speakers = speakers_by_split(rng, small)
    clips = []
    for split in SPLITS:
        n = max(1, round(per_class * SPLIT_FRACTIONS[split]))
        lo, hi = noise_range(split)
        for label in CLASSES:
            for k in range(n):
                if label == "_silence_":
                    speaker, word = f"noise-{split}", ""
                else:
                    speaker = speakers[split][rng.integers(len(speakers[split]))]
                    word = (UNKNOWN_WORDS[rng.integers(len(UNKNOWN_WORDS))]
                            if label == "_unknown_" else label)
                clips.append(Clip(
                    split=split, label=label, speaker=speaker,
                    path=f"{split}/{label}/{speaker}_{k:05d}.wav", word=word,
                    speed=int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)),
                    pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                    place=float(rng.random()),
                    noise=NOISES[rng.integers(len(NOISES))],
                    noise_offset=float(rng.uniform(lo, hi - 1.0)),
                    snr_db=float(rng.uniform(*SNR_DB)),
                    peak_db=float(rng.uniform(*(SILENCE_PEAK_DB if label == "_silence_"
                                               else PEAK_DB)))))
    return speakers, clips


def make_noise(noise_dir):
    """One NOISE_SECONDS recording per colour, peak-normalised; returns their RMS and peak."""
    stats = {}
    for colour in NOISES:
        path = noise_dir / f"{colour}.wav"
        run(["sox", "-R", "-D", "-n", "-r", str(RATE), "-b", "16", "-c", "1", str(path),
             "synth", str(NOISE_SECONDS), f"{colour}noise", "gain", "-n", "-1"])
        x, _ = read_wav(path)
        stats[colour] = (float(np.sqrt(np.mean(x ** 2))), float(np.max(np.abs(x))))
    return stats


def synthesise(word, speaker, speed, pitch, tmp):
    """espeak-ng's word, trimmed to its active part: (file, rate, first, count, rms, peak)."""
    voice, variant = speaker.split("+")
    while True:
        run(["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch),
             "-w", str(tmp), word])
        x, rate = read_wav(tmp)
        if x.size == 0 or np.max(np.abs(x)) == 0:
            raise RuntimeError(f"espeak-ng -v {voice}+{variant} said nothing for '{word}'")
        active = np.flatnonzero(np.abs(x) > 0.02 * np.max(np.abs(x)))
        first, last = int(active[0]), int(active[-1]) + 1
        if (last - first) / rate <= MAX_WORD_S or speed >= 450:
            break
        speed = min(450, int(speed * 1.25))
    count = min(last - first, int(MAX_WORD_S * rate))
    seg = x[first:first + count]
    return rate, first, count, float(np.sqrt(np.mean(seg ** 2))), float(np.max(np.abs(seg)))


def make_clip(clip, out, noise_dir, noise_stats, tmp_dir):
    """Writes one clip with sox; returns (onset_s, duration_s) of the word (0, 0: silence)."""
    dst = out / clip.path
    noise = f"|sox {noise_dir / (clip.noise + '.wav')} -p trim {clip.noise_offset:.4f} 1"
    if not clip.word:
        run(["sox", "-D", noise, "-b", "16", str(dst), "trim", "0", f"{CLIP}s",
             "gain", "-n", f"{clip.peak_db:.2f}"])
        return 0.0, 0.0
    tmp = tmp_dir / clip.path.replace("/", "_")
    rate, first, count, rms, peak = synthesise(clip.word, clip.speaker, clip.speed,
                                               clip.pitch, tmp)
    duration = count / rate
    onset = clip.place * (1.0 - duration)
    noise_rms, noise_peak = noise_stats[clip.noise]
    noise_gain = rms / (noise_rms * 10 ** (clip.snr_db / 20))
    scale = 0.99 / (peak + noise_gain * noise_peak)  # the mix cannot clip before the gain
    speech = f"|sox {tmp} -p trim {first}s {count}s rate -h {RATE} pad {onset:.5f}"
    run(["sox", "-D", "-m", "-v", f"{scale:.6f}", speech, "-v", f"{scale * noise_gain:.6f}", noise,
         "-b", "16", str(dst), "trim", "0", f"{CLIP}s", "gain", "-n", f"{clip.peak_db:.2f}"])
    tmp.unlink()
    return onset, duration


def check_clip(path):
    x, rate = read_wav(path)
    if rate != RATE or x.size != CLIP:
        raise RuntimeError(f"{path}: {x.size} samples at {rate} Hz, expected {CLIP} at {RATE}")


def write_examples(clips, out, noise_dir, noise_stats, examples, rng):
    """examples/kws: one test-speaker clip per class and a ~10 s stream of test words."""
    examples.mkdir(parents=True, exist_ok=True)
    for label in CLASSES:
        first = next(c for c in clips if c.split == "test" and c.label == label)
        shutil.copyfile(out / first.path, examples / f"{label}.wav")
    # The stream: a 10 s test-range noise bed at 25 dB below full scale with six test-speaker
    # words (five keywords, one unknown) starting every ~1.6 s.
    test_speakers = sorted({c.speaker for c in clips if c.split == "test" and c.word})
    words = [KEYWORDS[i] for i in rng.permutation(len(KEYWORDS))[:5]]
    words.insert(int(rng.integers(1, 5)), UNKNOWN_WORDS[rng.integers(len(UNKNOWN_WORDS))])
    lo, hi = noise_range("test")
    colour = NOISES[rng.integers(len(NOISES))]
    seconds = 10.0
    noise_gain = 10 ** (-25 / 20) / noise_stats[colour][1]
    inputs = ["-v", f"{noise_gain:.6f}",
              f"|sox {noise_dir / (colour + '.wav')} -p trim {rng.uniform(lo, hi - seconds):.3f}"
              f" {seconds}"]
    lines = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        for i, word in enumerate(words):
            speaker = test_speakers[rng.integers(len(test_speakers))]
            tmp = Path(tmp_dir) / f"w{i}.wav"
            rate, first, count, _, peak = synthesise(word, speaker, 160, 50, tmp)
            start = 0.6 + 1.6 * i + float(rng.uniform(-0.2, 0.2))
            inputs += ["-v", f"{0.5 / peak:.6f}",
                       f"|sox {tmp} -p trim {first}s {count}s rate -h {RATE} pad {start:.4f}"]
            label = word if word in KEYWORDS else "_unknown_"
            lines.append(f"{start:.3f} {start + count / rate:.3f} {label} {word} {speaker}")
        run(["sox", "-D", "-m", *inputs, "-b", "16", str(examples / "stream.wav"),
             "trim", "0", f"{int(seconds * RATE)}s"])
    (examples / "stream.txt").write_text(
        "# start_s end_s class word speaker -- words of test speakers in "
        f"{colour} noise, made by scripts/make_kws_dataset.py\n" + "\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="data/kws", help="data set root (default data/kws)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-class", type=int, default=1000,
                    help="clips per class over all splits (80/10/10 %%), default 1000")
    ap.add_argument("--jobs", type=int, default=2, help="concurrent espeak-ng/sox pipelines")
    ap.add_argument("--small", action="store_true",
                    help="a tiny set for tests: 40 speakers, 10 clips per class")
    ap.add_argument("--examples", default=None,
                    help="also write the committed subset (e.g. examples/kws) here")
    args = ap.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"make_kws_dataset: '{tool}' not found; install it (scripts/setup.sh)")
    if args.per_class < 1 or args.jobs < 1:
        sys.exit("make_kws_dataset: --per-class and --jobs must be >= 1")
    per_class = 10 if args.small else args.per_class
    os.nice(10)  # the tools inherit it: the machine is shared

    rng = np.random.default_rng(args.seed)
    speakers, clips = plan(rng, per_class, args.small)
    out = Path(args.out)
    if (out / "manifest.csv").exists():
        for split in SPLITS:
            shutil.rmtree(out / split, ignore_errors=True)
        (out / "manifest.csv").unlink()
    for split in SPLITS:
        for label in CLASSES:
            (out / split / label).mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        noise_dir = Path(tmp) / "noise"
        noise_dir.mkdir()
        noise_stats = make_noise(noise_dir)
        words_dir = Path(tmp) / "words"
        words_dir.mkdir()
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(make_clip, c, out, noise_dir, noise_stats, words_dir)
                       for c in clips]
            for i, f in enumerate(futures):
                f.result()
                if (i + 1) % 1000 == 0:
                    print(f"{i + 1}/{len(clips)} clips", file=sys.stderr)
        for c in clips:
            check_clip(out / c.path)
        with open(out / "manifest.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["split", "class", "speaker", "file"])
            for c in clips:
                w.writerow([c.split, c.label, c.speaker, c.path])
        if args.examples:
            write_examples(clips, out, noise_dir, noise_stats, Path(args.examples), rng)

    counts = {s: sum(c.split == s for c in clips) for s in SPLITS}
    print(f"{len(clips)} clips in {out} (seed {args.seed}): "
          + ", ".join(f"{s} {counts[s]} clips / {len(speakers[s])} speakers" for s in SPLITS))


if __name__ == "__main__":
    main()
