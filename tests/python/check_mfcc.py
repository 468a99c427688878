#!/usr/bin/env python3
"""The C++ MFCC front end (src/apps/audio.cpp) against python_speech_features 0.6 on the same
audio: tones, noise, a chirp, near-silence, clips shorter and longer than 1 s, and espeak-ng
speech when espeak-ng and sox are installed. Each signal is written as a 16 kHz 16-bit WAV, the
C++ side reads it with libsndfile (samples / 32768) and dumps its MFCC as .npy
(tests/python/mfcc_dump.cpp); the reference reads the same int16 samples / 32768 and computes
mfcc() with the parameters of the KWS conventions. Fails when any coefficient differs by more
than 1e-3 (absolute). Exit 77 (skipped) when python_speech_features is missing.

usage: check_mfcc.py PATH/TO/acim_mfcc_dump
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    from python_speech_features import mfcc
    from scipy.io import wavfile
except ImportError as e:  # the project venv has both (scripts/setup.sh)
    print(f"skipped: {e}")
    sys.exit(77)

RATE = 16000
TOLERANCE = 1e-3


def reference(samples_int16):
    x = samples_int16.astype(np.float64) / 32768.0
    return mfcc(x, samplerate=RATE, winlen=0.040, winstep=0.020, numcep=10, nfilt=40, nfft=1024,
                lowfreq=20, highfreq=4000, preemph=0.97, ceplifter=22, appendEnergy=True,
                winfunc=np.hamming)


def signals(tmp):
    rng = np.random.default_rng(7)
    t = np.arange(RATE) / RATE
    out = {
        "tone_440": 0.5 * np.sin(2 * np.pi * 440 * t),
        "tone_1000": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "tone_3500": 0.2 * np.sin(2 * np.pi * 3500 * t),
        "two_tones": 0.3 * np.sin(2 * np.pi * 250 * t) + 0.2 * np.sin(2 * np.pi * 2100 * t),
        "chirp": 0.4 * np.sin(2 * np.pi * (50 * t + 3500 * t * t)),
        "noise": 0.1 * rng.standard_normal(RATE),
        "quiet_noise": 0.001 * rng.standard_normal(RATE),
        "short_noise": 0.2 * rng.standard_normal(5000),
        "long_noise": 0.05 * rng.standard_normal(RATE * 3 // 2 + 77),
    }
    out = {k: np.clip(np.round(v * 32768), -32768, 32767).astype(np.int16) for k, v in out.items()}
    if shutil.which("espeak-ng") and shutil.which("sox"):
        for word in ("yes", "stop", "seven"):
            raw = os.path.join(tmp, f"espeak_{word}_raw.wav")
            wav = os.path.join(tmp, f"espeak_{word}.wav")
            subprocess.run(["espeak-ng", "-w", raw, word], check=True)
            subprocess.run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", wav, "pad", "0.1",
                            "0.3"], check=True)
            rate, data = wavfile.read(wav)
            assert rate == RATE and data.dtype == np.int16
            out[f"espeak_{word}"] = data
    else:
        print("note: espeak-ng or sox missing, no speech signals")
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    dump = sys.argv[1]
    worst_all = 0.0
    failed = []
    with tempfile.TemporaryDirectory(prefix="acim_mfcc_") as tmp:
        for name, data in signals(tmp).items():
            wav = os.path.join(tmp, name + ".wav")
            npy = os.path.join(tmp, name + ".npy")
            wavfile.write(wav, RATE, data)
            subprocess.run([dump, wav, npy], check=True)
            got = np.load(npy)
            want = reference(data)
            if got.shape != want.shape:
                failed.append(f"{name}: shape {got.shape} != reference {want.shape}")
                continue
            worst = float(np.max(np.abs(got - want)))
            worst_all = max(worst_all, worst)
            print(f"{name:14s} {got.shape[0]:3d} frames  max |C++ - python_speech_features| = "
                  f"{worst:.2e}")
            if worst > TOLERANCE:
                failed.append(f"{name}: {worst:.3g} > {TOLERANCE}")
    print(f"worst difference {worst_all:.2e} (tolerance {TOLERANCE})")
    for f in failed:
        print("FAILED", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
