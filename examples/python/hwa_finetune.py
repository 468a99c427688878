#!/usr/bin/env python3
"""Hardware-aware fine-tuning with acim.torch, end to end, in about a minute on 2 cores.

  1. trains a small DS-CNN (the keyword-spotting network's shape: conv + BatchNorm, a depthwise-
     separable block, average pooling, a classifier; input [N, 1, 49, 10]) in float on a
     synthetic 12-class task (noisy, time-shifted class templates standing in for MFCCs);
  2. converts it to analog layers on a chip (convert_to_analog lists what stays digital);
  3. measures accuracy on the simulated chip: the exported ONNX model compiled with acim and
     evaluated on several chip instances (acim.evaluate: the full C++ simulator);
  4. fine-tunes the analog model for a few epochs with the chip's non-idealities in the forward
     pass (straight-through gradients), and measures again.

    PYTHONPATH=python:build/release/python .venv/bin/python examples/python/hwa_finetune.py
    ... --chip hermes --drift-time 86400      # another preset, evaluated a day after programming

The default chip is the edge-voice preset with 4-bit ADCs edited in (--adc-bits; the preset has
6), so that the drop is large enough to see on a task this small; --adc-bits 0 keeps the preset
as it is.
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import tempfile
import time

import numpy as np
import torch
from torch import nn

import acim
import acim.torch as at

CLASSES = 12


class DsCnn(nn.Module):
    def __init__(self, channels: int = 24) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, (5, 3), stride=(2, 1), padding=(2, 1))
        self.bn = nn.BatchNorm2d(channels)
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.bn_dw = nn.BatchNorm2d(channels)
        self.pw = nn.Conv2d(channels, channels, 1)
        self.bn_pw = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.relu(self.bn_dw(self.dw(x)))
        x = torch.relu(self.bn_pw(self.pw(x)))
        return self.fc(self.pool(x).flatten(1))


def synthetic_set(n: int, rng: np.random.Generator, templates: np.ndarray):
    """Class templates [49, 10], shifted in time by up to 4 frames, scaled and noisy."""
    y = rng.integers(0, CLASSES, n)
    x = np.empty((n, 1, 49, 10), np.float32)
    for i, label in enumerate(y):
        shifted = np.roll(templates[label], rng.integers(-4, 5), axis=0)
        x[i, 0] = shifted * rng.uniform(0.7, 1.3) + rng.normal(0, 0.8, (49, 10))
    return torch.from_numpy(x), torch.from_numpy(y)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
          batch: int = 100) -> None:
    opt = torch.optim.Adam(model.parameters(), lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def chip_accuracy(model: nn.Module, spec: acim.ChipSpec, x_cal: torch.Tensor, x: torch.Tensor,
                  y: torch.Tensor, instances: int, drift_time: float | None,
                  folder: pathlib.Path, name: str) -> dict:
    """Exports the model, compiles it with acim and evaluates it on simulated chip instances."""
    path = folder / f"{name}.onnx"
    at.export_onnx(model, str(path), x[:1], output_names=("logits",), dynamic_batch=True)
    program = acim.compile(path, spec, calibration=x_cal[:32].numpy())
    return acim.evaluate(program, x.numpy(), y.numpy(), instances=instances,
                         drift_time=drift_time)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chip", default="edge-voice", help="preset name or .toml file")
    ap.add_argument("--adc-bits", type=int, default=4,
                    help="edit array.adc.bits to this (0: the chip's own)")
    ap.add_argument("--epochs", type=int, default=3, help="hardware-aware fine-tuning epochs")
    ap.add_argument("--instances", type=int, default=3, help="chip instances to evaluate on")
    ap.add_argument("--drift-time", type=float, default=None,
                    help="seconds after programming to evaluate at (default: the spec's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    # Class templates smooth in time (a 5-frame moving average), like spectro-temporal shapes.
    raw = rng.normal(0, 1, (CLASSES, 53, 10)).astype(np.float32)
    templates = sum(raw[:, i:i + 49] for i in range(5))
    templates /= templates.std()
    x_train, y_train = synthetic_set(2000, rng, templates)
    x_test, y_test = synthetic_set(500, rng, templates)

    spec = acim.chip(args.chip)
    if args.adc_bits > 0:
        spec = spec.edit({"array.adc.bits": args.adc_bits})

    model = DsCnn()
    train(model, x_train, y_train, epochs=12, lr=1e-2)
    train(model, x_train, y_train, epochs=6, lr=2e-3)  # to convergence (the control needs it)
    print(f"float model trained ({time.time() - t0:.0f} s)")

    analog = at.convert_to_analog(model, spec, drift_time=args.drift_time)
    at.calibrate(analog, x_train[:500])

    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        before = chip_accuracy(analog, spec, x_train, x_test, y_test, args.instances,
                               args.drift_time, folder, "before")
        print(f"before: float {before['float_accuracy']:.3f}, chip {before['mean']:.3f} "
              f"+- {before['std']:.3f} over {args.instances} instances ({time.time() - t0:.0f} s)")

        # The control: the same fine-tuning in float (so a gain below is not just more
        # training), then on the chip.
        control = copy.deepcopy(analog)
        at.set_analog(control, False)
        train(control, x_train, y_train, epochs=args.epochs, lr=2e-3)
        at.set_analog(control, True)
        at.calibrate(control, x_train[:500])
        floatft = chip_accuracy(control, spec, x_train, x_test, y_test, args.instances,
                                args.drift_time, folder, "control")
        print(f"float fine-tuning: float {floatft['float_accuracy']:.3f}, chip "
              f"{floatft['mean']:.3f} +- {floatft['std']:.3f} ({time.time() - t0:.0f} s)")

        # Hardware-aware fine-tuning: the chip's noise and quantisation in every forward pass,
        # a new chip instance each step, the float layer's gradients.
        train(analog, x_train, y_train, epochs=args.epochs, lr=2e-3)
        at.calibrate(analog, x_train[:500])
        after = chip_accuracy(analog, spec, x_train, x_test, y_test, args.instances,
                              args.drift_time, folder, "after")
        print(f"hardware-aware fine-tuning: float {after['float_accuracy']:.3f}, "
              f"chip {after['mean']:.3f} "
              f"+- {after['std']:.3f} over {args.instances} instances ({time.time() - t0:.0f} s)")

    drop = lambda r: 100 * (r["float_accuracy"] - r["mean"])  # noqa: E731
    print(f"on-chip accuracy drop (points): {drop(before):.1f} before fine-tuning, "
          f"{drop(floatft):.1f} after float fine-tuning, {drop(after):.1f} after hardware-aware "
          "fine-tuning")


if __name__ == "__main__":
    main()
