#!/usr/bin/env python3
"""Trains the keyword-spotting DS-CNNs on the espeak-ng data set and exports them to ONNX.

DS-CNN-S is the depthwise-separable CNN of "Hello Edge" (Zhang et al. 2017,
arXiv:1711.07128), the architecture of zoo/kws/ds_cnn_s.onnx (zoo/README.md); DS-CNN-XS is
the same network with fewer channels and blocks. Inputs are raw MFCCs [N, 1, 49, 10] computed
with python_speech_features exactly as /tmp/kws_spec.md says (mirrored in
zoo/kws/README.md); the per-coefficient mean and std of the training set are baked into the
ONNX graph as its first nodes (Sub, Mul), so the C++ front end feeds raw MFCCs.

    .venv/bin/python scripts/make_kws_dataset.py            # data/kws, seed 1
    .venv/bin/python zoo/kws/train_kws.py                   # both models, ~minutes on 2 CPUs

Writes zoo/kws/ds_cnn_kws.onnx and zoo/kws/ds_cnn_kws_xs.onnx (opset 17, input `input`,
output `logits` [N, 12]), checks each against onnxruntime on the test split (held-out
speakers), and writes for `acim eval` / `acim compile --calibrate`:
    DATA/npy/test_x.npy [N,1,49,10] float32, DATA/npy/test_y.npy [N] int64
    DATA/calibrate.npy  [256,1,49,10] float32 (training samples)
The MFCCs of every split are cached in DATA/mfcc/ (recomputed when manifest.csv changes).

Hardware-aware training: --hwa fine-tunes the trained float model for --hwa-epochs through
acim.torch.convert_to_analog(model, chip=--chip) (python/acim/torch.py: the chip's weight
noise and ADC/DAC quantisation in the forward pass) before export; it needs the acim Python
extension built (docs/PYTHON.md).
"""

import argparse
import csv
import hashlib
import os
import sys
import time
import wave
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F
from onnx import TensorProto
from python_speech_features import mfcc
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "zoo"))
from make_models import Builder, tensor  # noqa: E402  (the zoo's ONNX builder)

CLASSES = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off",
           "stop", "go"]
SPLITS = ["train", "validation", "test"]
CLIP = 16000
FRAMES, COEFFS = 49, 10
# Architectures: (conv1 channels = block channels, depthwise-separable blocks, and the default
# epochs and peak learning rate: the smaller model trains longer, at a higher rate).
ARCHS = {"s": (64, 4, 20, 3e-3), "xs": (32, 3, 40, 1e-2)}
OUTPUTS = {"s": "ds_cnn_kws.onnx", "xs": "ds_cnn_kws_xs.onnx"}


def mfcc_features(path):
    """Raw MFCC [49, 10] of a 16 kHz mono 16-bit WAV, exactly per the KWS conventions."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    x = x / 32768.0
    x = np.pad(x, (0, max(0, CLIP - x.size)))[:CLIP]
    return mfcc(x, samplerate=16000, winlen=0.040, winstep=0.020, numcep=10, nfilt=40,
                nfft=1024, lowfreq=20, highfreq=4000, preemph=0.97, ceplifter=22,
                appendEnergy=True, winfunc=np.hamming).astype(np.float32)


def load_features(data):
    """{split: (x [N,1,49,10] float32, y [N] int64)}, from DATA/mfcc/ when up to date."""
    manifest = data / "manifest.csv"
    if not manifest.exists():
        sys.exit(f"train_kws: {manifest} not found; generate the data set first: "
                 ".venv/bin/python scripts/make_kws_dataset.py --out " + str(data))
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    cache = data / "mfcc"
    stamp = cache / "manifest.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return {s: (np.load(cache / f"{s}_x.npy"), np.load(cache / f"{s}_y.npy"))
                for s in SPLITS}
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    cache.mkdir(exist_ok=True)
    out = {}
    t0 = time.time()
    for s in SPLITS:
        split_rows = [r for r in rows if r["split"] == s]
        x = np.stack([mfcc_features(data / r["file"]) for r in split_rows])[:, None]
        y = np.array([CLASSES.index(r["class"]) for r in split_rows], dtype=np.int64)
        np.save(cache / f"{s}_x.npy", x)
        np.save(cache / f"{s}_y.npy", y)
        out[s] = (x, y)
    stamp.write_text(digest + "\n")
    print(f"MFCCs of {len(rows)} clips cached in {cache} ({time.time() - t0:.0f} s)")
    return out


class DSCNN(nn.Module):
    """Normalise, conv 10x4 /2 (TF SAME: pads top 4, bottom 5, left 1, right 1), BN, ReLU,
    `blocks` x (depthwise 3x3, BN, ReLU, pointwise 1x1, BN, ReLU), average pool, linear."""

    def __init__(self, channels, blocks, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 1, -1))
        self.register_buffer("scale",
                             torch.tensor(1.0 / std, dtype=torch.float32).view(1, 1, 1, -1))
        self.conv1 = nn.Conv2d(1, channels, (10, 4), stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            self.blocks.append(nn.ModuleDict({
                "dw": nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                "dw_bn": nn.BatchNorm2d(channels),
                "pw": nn.Conv2d(channels, channels, 1, bias=False),
                "pw_bn": nn.BatchNorm2d(channels)}))
        self.fc = nn.Linear(channels, len(CLASSES))

    def forward(self, x):
        x = (x - self.mean) * self.scale
        x = F.relu(self.bn1(self.conv1(F.pad(x, (1, 1, 4, 5)))))
        for b in self.blocks:
            x = F.relu(b["dw_bn"](b["dw"](x)))
            x = F.relu(b["pw_bn"](b["pw"](x)))
        return self.fc(x.mean(dim=(2, 3)))


def to_onnx(model, name, doc):
    """The trained model as an ONNX graph shaped like zoo/kws/ds_cnn_s.onnx, plus the
    normalisation (Sub, Mul) in front; BatchNormalization kept as nodes (acim folds them)."""
    b = Builder(seed=0)

    def arr(t):
        return t.detach().cpu().numpy().astype(np.float32)

    def conv(x, label, conv_mod, pads, group=1):
        w = b.const(label + ".weight", arr(conv_mod.weight))
        kh, kw = conv_mod.kernel_size
        return b.node("Conv", [x, w], label + ".out", label, kernel_shape=[kh, kw],
                      strides=list(conv_mod.stride), pads=list(pads), group=group,
                      dilations=[1, 1])

    def bn_relu(x, label, bn):
        ins = [x] + [b.const(f"{label}.bn.{k}", arr(v)) for k, v in
                     (("scale", bn.weight), ("bias", bn.bias), ("mean", bn.running_mean),
                      ("var", bn.running_var))]
        y = b.node("BatchNormalization", ins, label + ".bn.out", label + ".bn",
                   epsilon=float(bn.eps))
        return b.node("Relu", [y], label + ".relu.out", label + ".relu")

    x = b.node("Sub", ["input", b.const("norm.mean", arr(model.mean))], "norm.sub.out",
               "norm.sub")
    x = b.node("Mul", [x, b.const("norm.scale", arr(model.scale))], "norm.out", "norm.mul")
    x = bn_relu(conv(x, "conv1", model.conv1, (4, 1, 5, 1)), "conv1", model.bn1)
    for i, blk in enumerate(model.blocks, start=1):
        c = blk["dw"].in_channels
        x = bn_relu(conv(x, f"ds{i}.dw", blk["dw"], (1, 1, 1, 1), group=c), f"ds{i}.dw",
                    blk["dw_bn"])
        x = bn_relu(conv(x, f"ds{i}.pw", blk["pw"], (0, 0, 0, 0)), f"ds{i}.pw", blk["pw_bn"])
    x = b.node("GlobalAveragePool", [x], "pool.out", "pool")
    x = b.node("Flatten", [x], "flatten.out", "flatten", axis=1)
    b.node("Gemm", [x, b.const("fc.weight", arr(model.fc.weight)),
                    b.const("fc.bias", arr(model.fc.bias))], "logits", "fc", transB=1)
    m = b.model(name, [tensor("input", ["N", 1, FRAMES, COEFFS])],
                [tensor("logits", ["N", len(CLASSES)])], doc)
    m.producer_name = "acim zoo/kws/train_kws.py"
    return m


def from_onnx(model, path):
    """Loads the weights and normalisation statistics of an ONNX model written by to_onnx (the
    inverse of to_onnx) into `model`, which must have the same architecture."""
    init = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy())
            for t in onnx.load(str(path)).graph.initializer}
    want = {"norm.mean": model.mean, "norm.scale": model.scale,
            "conv1.weight": model.conv1.weight}

    def bn(label, m):
        for k, v in (("scale", m.weight), ("bias", m.bias), ("mean", m.running_mean),
                     ("var", m.running_var)):
            want[f"{label}.bn.{k}"] = v

    bn("conv1", model.bn1)
    for i, blk in enumerate(model.blocks, start=1):
        for part in ("dw", "pw"):
            want[f"ds{i}.{part}.weight"] = blk[part].weight
            bn(f"ds{i}.{part}", blk[part + "_bn"])
    want["fc.weight"], want["fc.bias"] = model.fc.weight, model.fc.bias
    if set(init) != set(want):
        sys.exit(f"train_kws: {path}: not a model of this architecture (initializers "
                 f"{sorted(set(init) ^ set(want))} differ)")
    with torch.no_grad():
        for name, t in want.items():
            if tuple(init[name].shape) != tuple(t.shape):
                sys.exit(f"train_kws: {path}: initializer {name} has shape "
                         f"{tuple(init[name].shape)}, this architecture needs {tuple(t.shape)}")
            t.copy_(init[name])


def predict(model, x, batch=512):
    """Logits of x (numpy) as numpy, in eval mode."""
    model.eval()
    dev = model.mean.device
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + batch]).to(dev)).cpu()
                          for i in range(0, len(x), batch)]).numpy()


def accuracy(model, x, y):
    return float((predict(model, x).argmax(1) == y).mean())


def augment(xb, gen):
    """SpecAugment-style masks (Park et al. 2019, arXiv:1904.08779) of a raw-MFCC batch: one
    time mask of up to 6 frames and one of up to 2 coefficients per sample; the caller sets
    the masked values to the training mean (zero after the model's normalisation)."""
    n = xb.shape[0]
    t0 = torch.randint(0, FRAMES, (n, 1), generator=gen)
    tw = torch.randint(0, 7, (n, 1), generator=gen)
    f0 = torch.randint(0, COEFFS, (n, 1), generator=gen)
    fw = torch.randint(0, 3, (n, 1), generator=gen)
    t = torch.arange(FRAMES).view(1, -1)
    f = torch.arange(COEFFS).view(1, -1)
    tmask = (t >= t0) & (t < t0 + tw)          # [n, 49]
    fmask = (f >= f0) & (f < f0 + fw)          # [n, 10]
    return tmask[:, None, :, None] | fmask[:, None, None, :]


def train(model, feats, epochs, lr, seed, log, label, freeze_bn=False):
    (xt, yt), (xv, yv) = feats["train"], feats["validation"]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xt) + 99) // 100)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    dev = model.mean.device
    xt_t, yt_t = torch.from_numpy(xt).to(dev), torch.from_numpy(yt).to(dev)
    mean = model.mean
    for epoch in range(epochs):
        model.train()
        if freeze_bn:  # keep the float model's normalisation statistics (hardware-aware tuning)
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        t0 = time.time()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), 100):
            idx = perm[i:i + 100].to(dev)
            xb = xt_t[idx]
            xb = torch.where(augment(xb, gen).to(dev), mean.expand_as(xb), xb)
            loss = F.cross_entropy(model(xb), yt_t[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"{label} epoch {epoch + 1}/{epochs}: loss {total / len(xt):.4f}, "
            f"validation {100 * accuracy(model, xv, yv):.2f} % ({time.time() - t0:.1f} s)")


def hardware_aware(model, feats, calib, args, lr, log, label):
    """Fine-tunes through acim.torch's analog layers (the chip's noise and DAC/ADC quantisation
    in the forward pass, straight-through gradients) and returns the float model again."""
    sys.path.insert(0, str(ROOT / "python"))
    try:
        import acim.torch as at
    except ImportError as e:
        sys.exit(f"train_kws: --hwa needs acim.torch (python/acim with its built extension "
                 f"module on PYTHONPATH, see docs/PYTHON.md): {e}")
    analog = at.convert_to_analog(model, chip=args.chip, seed=args.seed)
    calib = torch.from_numpy(calib)
    # One epoch at a time, the converters' ranges recalibrated before each on what the layers
    # now see (as the compiler calibrates the final model), and the batch normalisation
    # statistics frozen at the float model's: the fine-tuned weights then also work when the
    # compiler folds those statistics and calibrates the ranges again.
    for epoch in range(args.hwa_epochs):
        at.calibrate(analog, calib)
        train(analog, feats, 1, lr * args.hwa_lr_scale, args.seed + 1 + epoch, log,
              f"{label} hwa {epoch + 1}/{args.hwa_epochs}", freeze_bn=True)
    return at.to_float(analog)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "kws"))
    ap.add_argument("--arch", choices=["s", "xs", "both"], default="both")
    ap.add_argument("--epochs", type=int, default=None,
                    help="default: 20 for DS-CNN-S, 40 for DS-CNN-XS")
    ap.add_argument("--lr", type=float, default=None,
                    help="peak learning rate; default: 3e-3 for DS-CNN-S, 1e-2 for DS-CNN-XS")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    ap.add_argument("--out-dir", default=str(ROOT / "zoo" / "kws"))
    ap.add_argument("--hwa", action="store_true",
                    help="hardware-aware fine-tuning with acim.torch.convert_to_analog")
    ap.add_argument("--hwa-epochs", type=int, default=3)
    ap.add_argument("--hwa-lr-scale", type=float, default=0.1,
                    help="fine-tuning learning rate as a fraction of the float training's")
    ap.add_argument("--chip", default="edge-voice")
    ap.add_argument("--init", default=None, metavar="MODEL.onnx",
                    help="start from this trained model (written by this script) instead of "
                         "training in float: with --hwa, fine-tunes it")
    args = ap.parse_args()
    os.nice(10)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    data = Path(args.data)

    def log(msg):
        print(msg, flush=True)

    feats = load_features(data)
    xt, yt = feats["train"]
    xs, ys = feats["test"]
    log(f"train {len(xt)}, validation {len(feats['validation'][0])}, test {len(xs)} clips")
    (data / "npy").mkdir(exist_ok=True)
    np.save(data / "npy" / "test_x.npy", xs)
    np.save(data / "npy" / "test_y.npy", ys)
    # Calibration samples drawn at random from the training split: the split is stored class by
    # class, so a prefix would be one class (silence) and set every converter's range wrongly.
    calib = xt[np.sort(np.random.default_rng(args.seed).permutation(len(xt))[:256])]
    np.save(data / "calibrate.npy", calib)
    mean = xt.mean(axis=(0, 1, 2)).astype(np.float64)
    std = xt.std(axis=(0, 1, 2)).astype(np.float64)

    if args.init and args.arch == "both":
        sys.exit("train_kws: --init needs --arch s or --arch xs (the architecture of the model)")
    for arch in (["s", "xs"] if args.arch == "both" else [args.arch]):
        torch.manual_seed(args.seed)
        channels, blocks, epochs, lr = ARCHS[arch]
        epochs = args.epochs or epochs
        lr = args.lr or lr
        model = DSCNN(channels, blocks, mean, std).to(args.device)
        label = f"DS-CNN-{arch.upper()}"
        t0 = time.time()
        if args.init:
            from_onnx(model, args.init)
            log(f"{label}: weights from {args.init}, test accuracy "
                f"{100 * accuracy(model, xs, ys):.2f} %")
        else:
            train(model, feats, epochs, lr, args.seed, log, label)
        if args.hwa:
            model = hardware_aware(model, feats, calib, args, lr, log, label)
        seconds = time.time() - t0
        acc = accuracy(model, xs, ys)
        params = sum(p.numel() for p in model.parameters())
        hwa = (f" --hwa --chip {args.chip} --hwa-epochs {args.hwa_epochs} --hwa-lr-scale "
               f"{args.hwa_lr_scale:g}" if args.hwa else "")
        how = (f"--init {Path(args.init).name}" if args.init else f"--epochs {epochs}")
        doc = (f"{label} keyword spotter (Hello Edge DS-CNN, {channels} channels, {blocks} "
               f"blocks), trained by zoo/kws/train_kws.py --seed {args.seed} {how} --lr "
               f"{lr:g}{hwa} on the espeak-ng data set "
               f"({len(xt)} training clips); test accuracy {100 * acc:.2f} % "
               "(held-out speakers). Input: raw MFCC [N,1,49,10]; classes: " + ",".join(CLASSES))
        m = to_onnx(model, f"ds_cnn_kws_{arch}", doc)
        path = Path(args.out_dir) / OUTPUTS[arch]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(m.SerializeToString(deterministic=True))

        import onnxruntime as ort
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits = np.concatenate([sess.run(["logits"], {"input": xs[i:i + 512]})[0]
                                 for i in range(0, len(xs), 512)])
        ref = predict(model, xs)
        diff = float(np.max(np.abs(logits - ref)))
        ort_acc = float((logits.argmax(1) == ys).mean())
        if diff > 1e-3 * max(1.0, float(np.max(np.abs(ref)))):
            sys.exit(f"train_kws: {path}: onnxruntime differs from PyTorch by {diff}")
        log(f"{label}: {params} parameters, trained in {seconds:.0f} s; test accuracy "
            f"{100 * acc:.2f} % (PyTorch), {100 * ort_acc:.2f} % (onnxruntime, max |diff| "
            f"{diff:.2e}) -> {path}")


if __name__ == "__main__":
    main()
