#!/usr/bin/env python3
"""Whole networks side by side: acim's analog simulation vs IBM aihwkit's, same weights, same noise.

Driven by scripts/bench_analog.sh (read its header for the options). Two stages, because the two
virtual environments hold different packages:

  export  (runs in .venv: onnx, onnxruntime)  writes, per network, the ONNX initializers as
          weights.npz, seeded random inputs x_b<B>.npy for every batch, a separate calibration
          set calib.npy, and onnxruntime's float outputs ref_b<B>.npy (the float reference both
          simulators' errors are measured against);
  run     (runs in .venv-aihwkit: torch, aihwkit)  builds each network's PyTorch twin from
          weights.npz, checks it equals onnxruntime in float, then times, on one thread each:
            acim float    `acim_bench_model MODEL.onnx --threads 1`    (reference executor)
            acim analog   `acim --threads 1 run P.acim --seed S`        (P compiled once for
                          bench/chips/aihwkit-pcm.toml, one copy per layer, calibrated on
                          calib.npy)
            aihwkit       convert_to_analog(twin, InferenceRPUConfig as in the chip spec),
                          program_analog_weights(), drift_analog_weights(t), forward
          and prints a markdown table of medians with the ratios.

Timing. Both sides are timed on the first run of a freshly programmed chip instance (acim:
`acim run --repeat 2`'s first ChipInstance::run, after the program is loaded and the chip
programmed and calibrated; aihwkit: the first forward after program_analog_weights and
drift_analog_weights) and on the second, warm run (acim's second run, aihwkit's second
forward): "1st" and "2nd" in the table, each speed-up like for like. Each chip instance (seed)
gives one time per batch; the table shows medians over the instances. acim float is acim_bench_model's median of
warm Executor::run calls (what bench/bench_vs_ort.py times).

The twin. BatchNormalization is folded into the preceding convolution (as acim's passes do), so
both simulators put the same folded weights on their arrays; the biases stay digital on both sides
(aihwkit mapping.digital_bias, acim's digital units). aihwkit's AnalogConv2d takes only groups = 1,
so a depthwise convolution becomes the dense convolution with the block-diagonal weight (zeros off
the diagonal), the kind of matrix acim's block-diagonal packing of groups puts on its arrays.
ds_cnn_s_dw_digital is the same network on a chip that runs its depthwise layers digitally
(core.digital.grouped_conv): there aihwkit keeps them as float convolutions outside its tiles, and
acim on its vector unit (fixed-point results, as every digital op). The LSTM is two linear layers
(X·Wᵀ for all steps at once, then H·Rᵀ per step) around the ONNX gate arithmetic (gate order i, o,
f, c), as acim runs it (only those two products on the arrays).

Error statistics. For every chip instance, the per-sample relative error of the logits,
||y - y_ref||₂ / ||y_ref||₂, averaged over the samples of the largest batch. The instances are
the independent units (the samples of one instance share its programming errors): the table
gives each simulator's mean over K instances with its standard error, and the two agree when
their difference is within a two-sided 95 % Welch t interval (t quantile for the Welch-
Satterthwaite degrees of freedom).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (zoo model, input shape without the batch dimension)
NETWORKS = {
    "ds_cnn_s": ("zoo/kws/ds_cnn_s.onnx", (1, 49, 10)),
    "ds_cnn_s_dw_digital": ("zoo/kws/ds_cnn_s.onnx", (1, 49, 10)),
    "resnet20": ("zoo/resnet/resnet20_cifar.onnx", (3, 32, 32)),
    "mlp": ("zoo/mlp/mlp_mnist.onnx", (784,)),
    "lstm": ("zoo/lstm/lstm_kws.onnx", (49, 10)),
}
# Networks whose grouped (depthwise) convolutions run on the digital side: acim on a copy of the
# chip spec with core.digital.grouped_conv = true, aihwkit with the float convolution outside its
# tiles (DigitalGroupedConv).
GROUPED_DIGITAL = {"ds_cnn_s_dw_digital"}

# The chip spec's array settings, mirrored in the aihwkit configuration
# (bench/chips/aihwkit-pcm.toml documents the mapping key by key).
ARRAY_ROWS = 512
ARRAY_WEIGHT_COLS = 512
DAC_BITS = 8
ADC_BITS = 8
T_INFERENCE_S = 3600.0
G_MAX_US = 25.0

# Largest relative float difference allowed between the PyTorch twin and onnxruntime: float32
# sums in another order differ by a few ulps per accumulation (eps 6e-8 times sqrt of the ~10^3
# terms of the deepest dot products and ~20 layers) — far below 1e-4.
TWIN_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------------- export
def export(args):
    """Stage 1 (.venv): weights, inputs, calibration set and onnxruntime references."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    for name in args.networks:
        rel, shape = NETWORKS[name]
        out = os.path.join(args.work, name)
        os.makedirs(out, exist_ok=True)
        model = onnx.load(os.path.join(ROOT, rel))
        np.savez(os.path.join(out, "weights.npz"),
                 **{t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(os.path.join(ROOT, rel), opts,
                                    providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        rng = np.random.default_rng(args.seed)
        # Calibration data drawn from the same distribution as the test inputs, not the same.
        np.save(os.path.join(out, "calib.npy"),
                rng.standard_normal((args.calib, *shape)).astype(np.float32))
        for b in args.batches:
            x = rng.standard_normal((b, *shape)).astype(np.float32)
            np.save(os.path.join(out, f"x_b{b}.npy"), x)
            np.save(os.path.join(out, f"ref_b{b}.npy"), sess.run(None, {in_name: x})[0])


# ------------------------------------------------------------------------------- the twins
def fold_bn(w, b, wts, bn):
    """Conv weight/bias with the BatchNormalization `bn` (its four tensors in wts) folded in."""
    import numpy as np
    scale = wts[bn + ".scale"] / np.sqrt(wts[bn + ".var"] + 1e-5)  # make_models.py: eps 1e-5
    w = w * scale.reshape(-1, 1, 1, 1)
    b = (b if b is not None else 0.0) - wts[bn + ".mean"]
    return w.astype(np.float32), (b * scale + wts[bn + ".bias"]).astype(np.float32)


def conv(torch, w, b, stride=1, padding=0):
    """nn.Conv2d holding the numpy weight w [out, in, kh, kw] and bias b."""
    m = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=stride, padding=padding,
                        bias=b is not None)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
        if b is not None:
            m.bias.copy_(torch.from_numpy(b))
    return m


def linear(torch, w, b):
    """nn.Linear with the numpy weight w [out, in] and bias b (None: no bias)."""
    m = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
        if b is not None:
            m.bias.copy_(torch.from_numpy(b))
    return m


def static_range(torch, module, r):
    """`module` (Conv2d or Linear) fed x / r and scaled back by r, its bias added after: the
    same product, with the analog tile seeing inputs in [-1, 1] for |x| <= r (aihwkit clips at
    inp_bound = 1 without noise management): acim's DAC range r, calibrated by its compiler."""
    class StaticRange(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module
            self.r = float(r)
            bias = module.bias
            self.register_buffer("bias", None if bias is None else bias.detach().clone())
            self.conv = isinstance(module, torch.nn.Conv2d)  # bias per channel (dim 1)
            module.bias = None

        def forward(self, x):
            y = self.inner(x / self.r) * self.r
            if self.bias is None:
                return y
            return y + (self.bias.reshape(1, -1, 1, 1) if self.conv else self.bias)

    return StaticRange()


def make_twin(name, wts, ranges=None):
    """The PyTorch module computing the zoo network `name` from its ONNX initializers `wts`.
    ranges (acim layer name -> its views' input ranges): each matrix product gets acim's static
    DAC range (static_range); None: the plain float twin."""
    import numpy as np
    import torch
    nn = torch.nn

    def analog(layer, module, view=0):
        return module if ranges is None else static_range(torch, module, ranges[layer][view])

    def conv_bn(prefix, stride=1, padding=0):
        w, b = fold_bn(wts[prefix + ".weight"], None, wts, prefix + ".bn")
        return analog(prefix, conv(torch, w, b, stride, padding))

    def fc(prefix):
        return analog(prefix, linear(torch, wts[prefix + ".weight"], wts[prefix + ".bias"]))

    if name == "mlp":
        return nn.Sequential(fc("fc1"), nn.ReLU(), fc("fc2"), nn.ReLU(), fc("fc3"))

    if name in ("ds_cnn_s", "ds_cnn_s_dw_digital"):
        class DigitalGroupedConv(nn.Module):
            """A depthwise convolution in float, a module convert_to_analog leaves alone."""
            def __init__(self, w, b):
                super().__init__()
                self.register_buffer("w", torch.from_numpy(w))
                self.register_buffer("b", torch.from_numpy(b))

            def forward(self, x):
                return nn.functional.conv2d(x, self.w, self.b, padding=1, groups=self.w.shape[0])

        layers = [nn.ZeroPad2d((1, 1, 4, 5)), conv_bn("conv1", stride=2), nn.ReLU()]
        for i in range(1, 5):
            p = f"ds{i}"
            dw = wts[p + ".dw.weight"]  # [64, 1, 3, 3], group = 64
            if name in GROUPED_DIGITAL:
                w, b = fold_bn(dw, None, wts, p + ".dw.bn")
                layers += [DigitalGroupedConv(w, b), nn.ReLU()]
            else:
                dense = np.zeros((dw.shape[0], dw.shape[0], 3, 3), np.float32)
                for c in range(dw.shape[0]):
                    dense[c, c] = dw[c, 0]
                w, b = fold_bn(dense, None, wts, p + ".dw.bn")
                layers += [analog(p + ".dw", conv(torch, w, b, padding=1)), nn.ReLU()]
            w, b = fold_bn(wts[p + ".pw.weight"], None, wts, p + ".pw.bn")
            layers += [analog(p + ".pw", conv(torch, w, b)), nn.ReLU()]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc("fc")]
        return nn.Sequential(*layers)

    if name == "resnet20":
        class Block(nn.Module):
            def __init__(self, p, stride, project):
                super().__init__()
                w, b = fold_bn(wts[p + ".conv1.weight"], None, wts, p + ".bn1")
                self.conv1 = analog(p + ".conv1", conv(torch, w, b, stride, 1))
                w, b = fold_bn(wts[p + ".conv2.weight"], None, wts, p + ".bn2")
                self.conv2 = analog(p + ".conv2", conv(torch, w, b, 1, 1))
                self.shortcut = None
                if project:
                    w, b = fold_bn(wts[p + ".shortcut.weight"], None, wts, p + ".shortcut.bn")
                    self.shortcut = analog(p + ".shortcut", conv(torch, w, b, stride, 0))

            def forward(self, x):
                y = self.conv2(torch.relu(self.conv1(x)))
                return torch.relu(y + (self.shortcut(x) if self.shortcut is not None else x))

        layers = [conv_bn("conv1", padding=1), nn.ReLU()]
        cin = 16
        for s, cout in enumerate((16, 32, 64), start=1):
            for k in range(3):
                stride = 2 if (s > 1 and k == 0) else 1
                layers.append(Block(f"stage{s}.block{k}", stride, stride != 1 or cin != cout))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc("fc")]
        return nn.Sequential(*layers)

    if name == "lstm":
        class Lstm(nn.Module):
            def __init__(self):
                super().__init__()
                w, r, bias = wts["lstm.W"][0], wts["lstm.R"][0], wts["lstm.B"][0]
                self.hidden = r.shape[1]
                four_h = 4 * self.hidden
                self.x_proj = analog("lstm", linear(torch, w, bias[:four_h] + bias[four_h:]),
                                     0)                                  # X·Wᵀ + Wb + Rb
                self.h_proj = analog("lstm", linear(torch, r, None), 1)  # H·Rᵀ
                self.fc = fc("fc")

            def forward(self, x):  # x [N, steps, features], batch first as the ONNX input
                gx = self.x_proj(x)
                h = x.new_zeros(x.shape[0], self.hidden)
                c = torch.zeros_like(h)
                hs = self.hidden
                for t in range(x.shape[1]):
                    g = gx[:, t] + self.h_proj(h)
                    i, o = torch.sigmoid(g[:, :hs]), torch.sigmoid(g[:, hs:2 * hs])
                    f, cand = torch.sigmoid(g[:, 2 * hs:3 * hs]), torch.tanh(g[:, 3 * hs:])
                    c = f * c + i * cand
                    h = o * torch.tanh(c)
                return self.fc(h)

        return Lstm()
    raise ValueError(f"no twin for network '{name}'")


def rpu_config():
    """aihwkit's InferenceRPUConfig set to bench/chips/aihwkit-pcm.toml's arrays."""
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.simulator.configs import InferenceRPUConfig
    from aihwkit.simulator.parameters.enums import (BoundManagementType, NoiseManagementType,
                                                    WeightNoiseType)
    cfg = InferenceRPUConfig()
    cfg.noise_model = PCMLikeNoiseModel(g_max=G_MAX_US)
    cfg.drift_compensation = GlobalDriftCompensation()
    cfg.forward.inp_res = 1.0 / (2**DAC_BITS - 2)
    cfg.forward.out_res = 1.0 / (2**ADC_BITS - 2)
    # aihwkit's ADC and DAC have 1/res steps over [-bound, bound] (2^8 - 2: 255 levels, as an
    # 8-bit signed converter); the output noise is one of those steps.
    cfg.forward.out_noise = 2 * cfg.forward.out_bound * cfg.forward.out_res
    # No noise management: the input range is acim's static calibrated DAC range, applied
    # around each tile by static_range (inputs / r clipped at inp_bound = 1), not a per-vector
    # max |x| (ABS_MAX), which a chip's DAC does not do.
    cfg.forward.noise_management = NoiseManagementType.NONE
    cfg.forward.bound_management = BoundManagementType.NONE
    cfg.forward.w_noise_type = WeightNoiseType.NONE
    cfg.mapping.max_input_size = ARRAY_ROWS
    cfg.mapping.max_output_size = ARRAY_WEIGHT_COLS
    cfg.mapping.digital_bias = True
    cfg.mapping.weight_scaling_omega = 1.0  # each column to the full conductance range,
    cfg.mapping.weight_scaling_columnwise = True  # as acim's per_column_scale
    return cfg


# ------------------------------------------------------------------------------------- run
def rel_errors(y, ref):
    """Per-sample relative L2 error of y against ref (both [N, classes])."""
    import numpy as np
    y = y.reshape(y.shape[0], -1).astype(np.float64)
    ref = ref.reshape(ref.shape[0], -1).astype(np.float64)
    return np.linalg.norm(y - ref, axis=1) / np.linalg.norm(ref, axis=1)


def check_output(cmd):
    """stdout of cmd; on failure, exits naming the command and showing its stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_networks_vs_aihwkit: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def acim_run(acim, program, x, seed, out_dir=None):
    """Seconds of the first and of the second ChipInstance::run of one instance (acim run
    --repeat 2's times_ms) and, with out_dir, the first run's output."""
    import numpy as np
    cmd = [acim, "--threads", "1", "run", program, "-i", x, "--json", "--seed", str(seed),
           "--repeat", "2"]
    if out_dir:
        cmd += ["-o", out_dir]
    j = json.loads(check_output(cmd))
    y = np.load(j["outputs"][0]["file"]) if out_dir else None
    first, second = j["times_ms"]
    return first * 1e-3, second * 1e-3, y


def acim_float(build_dir, model, x):
    """Seconds of one warm Executor::run (acim_bench_model: one warm-up, median of 3 runs)."""
    cmd = [os.path.join(build_dir, "bench", "acim_bench_model"), model, "--input", "input=" + x,
           "--threads", "1", "--warmup", "1", "--runs", "3"]
    return json.loads(check_output(cmd))["median_ms"] * 1e-3


def gemm_peak_gflops(build_dir):
    """The machine's single-thread float GEMM GFLOP/s (acim_gemm_peak: best of its runs)."""
    return json.loads(check_output([os.path.join(build_dir, "bench", "acim_gemm_peak")]))


def macs_per_sample(acim, model):
    """Multiply-accumulates of one inference at batch 1 (acim info)."""
    return int(json.loads(check_output([acim, "info", model, "--json"]))["total_macs"])


def mean_se(values):
    """Mean and standard error of the mean."""
    m = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("inf")
    return m, se


def welch_agree(a, b):
    """(agree, half-width): |mean a - mean b| within the two-sided 95 % Welch t interval."""
    from scipy import stats
    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    se = (sa**2 + sb**2) ** 0.5
    dof = se**4 / (sa**4 / (len(a) - 1) + sb**4 / (len(b) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.975, dof)) * se
    return abs(ma - mb) <= half, half


def run(args):
    """Stage 2 (.venv-aihwkit): twins, float check, timings, error statistics, the table."""
    import numpy as np
    import torch
    import aihwkit
    from aihwkit.nn.conversion import convert_to_analog

    torch.set_num_threads(1)
    acim = os.path.join(args.build_dir, "bin", "acim")
    chip = os.path.join(ROOT, "bench", "chips", "aihwkit-pcm.toml")
    big = max(args.batches)
    seeds = list(range(1, args.instances + 1))
    peak = gemm_peak_gflops(args.build_dir)
    best = {k: max(r[k]["best_gflops"] for r in peak["sizes"]) for k in peak["sizes"][0]
            if k != "size"}
    print(f"float32 GEMM peak, 1 thread (N x N x N, N in "
          f"{', '.join(str(r['size']) for r in peak['sizes'])}; best of {peak['reps']} runs): "
          f"{peak['peak_gflops']:.1f} GFLOP/s ("
          + ", ".join(f"{k} {v:.1f}" for k, v in sorted(best.items())) + ")")
    print(f"acim's normal generator, 1 thread (RandomStream::normal, 65536 draws; median of "
          f"{peak['reps']} runs): {peak['normal_ns']['median']:.3f} ns per draw")
    print(f"aihwkit {aihwkit.__version__}, torch {torch.__version__}; 1 thread each; "
          f"{args.instances} chip instances (seeds) per network, medians over them; "
          f"t = {T_INFERENCE_S:g} s after programming, global drift compensation; "
          f"arrays {ARRAY_ROWS}x{ARRAY_WEIGHT_COLS} weights; DAC/ADC {DAC_BITS}/{ADC_BITS} bits\n")
    rows, err_rows, limit_rows = [], [], []
    for name in args.networks:
        rel, _ = NETWORKS[name]
        d = os.path.join(args.work, name)
        wts = dict(np.load(os.path.join(d, "weights.npz")))
        twin = make_twin(name, wts).eval()
        for b in args.batches:  # the twin must be the ONNX model before anything is timed
            with torch.no_grad():
                y = twin(torch.from_numpy(np.load(os.path.join(d, f"x_b{b}.npy")))).numpy()
            ref = np.load(os.path.join(d, f"ref_b{b}.npy"))
            dev = float(np.abs(y - ref).max() / np.abs(ref).max())
            if dev > TWIN_TOLERANCE:
                sys.exit(f"bench_networks_vs_aihwkit: the PyTorch twin of {rel} differs from "
                         f"onnxruntime by {dev:.3g} (max |diff| / max |ref|) at batch {b}")

        macs = macs_per_sample(acim, os.path.join(ROOT, rel))
        program = os.path.join(d, "p.acim")
        net_chip = chip
        if name in GROUPED_DIGITAL:
            net_chip = os.path.join(d, "chip.toml")
            with open(chip) as f:
                spec = f.read()
            if "\ngrouped_conv = false" not in spec:
                sys.exit(f"bench_networks_vs_aihwkit: {chip} has no 'grouped_conv = false' line "
                         f"to turn on for {name}")
            with open(net_chip, "w") as f:
                f.write(spec.replace("\ngrouped_conv = false", "\ngrouped_conv = true", 1))
        compiled = json.loads(check_output(
            [acim, "--threads", "1", "compile", os.path.join(ROOT, rel), "--chip", net_chip,
             "--no-replicate", "--calibrate", os.path.join(d, "calib.npy"), "-o", program,
             "--json"]))
        ranges = {layer["name"]: layer["input_range"] for layer in compiled["layers"]}
        # ADC conversions per sample (each draws one normal), as acim's cost model counts them
        # for the program (batch 1).
        report = json.loads(check_output([acim, "--threads", "1", "report", program, "--json"]))
        conversions = report["cost"]["events"]["total"]["adc_conversions"]
        t_float = {b: [] for b in args.batches}
        t_acim = {b: [] for b in args.batches}
        t_acim2 = {b: [] for b in args.batches}
        t_aihw = {b: [] for b in args.batches}
        t_warm = {b: [] for b in args.batches}
        e_acim, e_aihw = [], []
        ref_big = np.load(os.path.join(d, f"ref_b{big}.npy"))
        for seed in seeds:
            for b in args.batches:
                x = os.path.join(d, f"x_b{b}.npy")
                t_float[b].append(acim_float(args.build_dir, os.path.join(ROOT, rel), x))
                out = os.path.join(d, f"out_s{seed}") if b == big else None
                t, t2, y = acim_run(acim, program, x, seed, out)
                t_acim[b].append(t)
                t_acim2[b].append(t2)
                if b == big:
                    e_acim.append(float(rel_errors(y, ref_big).mean()))
            torch.manual_seed(seed)
            analog = convert_to_analog(make_twin(name, wts, ranges), rpu_config()).eval()
            analog.program_analog_weights()
            analog.drift_analog_weights(t_inference=T_INFERENCE_S)
            with torch.no_grad():
                for b in args.batches:
                    x = torch.from_numpy(np.load(os.path.join(d, f"x_b{b}.npy")))
                    start = time.perf_counter()
                    y = analog(x).numpy()  # the first forward after programming, as acim's
                    t_aihw[b].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    analog(x)
                    t_warm[b].append(time.perf_counter() - start)
                    if b == big:
                        e_aihw.append(float(rel_errors(y, ref_big).mean()))
        for b in args.batches:
            f, a, a2, h, w = (statistics.median(t[b])
                              for t in (t_float, t_acim, t_acim2, t_aihw, t_warm))
            rows.append((name, b, b / f, b / a, b / a2, b / h, b / w, h / a, w / a2, a2 / f))
            limit = peak["peak_gflops"] * 1e9 / (2 * macs)
            goal = (20 if b == 1 else 10) * b / w
            floor = conversions * peak["normal_ns"]["median"] * 1e-9 / (f / b)
            limit_rows.append((name, b, macs, limit, b / f / limit, b / a2 / limit, b / w / limit,
                               goal, goal / limit, conversions, floor))
        agree, half = welch_agree(e_acim, e_aihw)
        err_rows.append((name, big, mean_se(e_acim), mean_se(e_aihw), half, agree))
        sys.stderr.write(f"bench_networks_vs_aihwkit: {name} done\n")

    print("| network | batch | acim float samples/s | acim analog 1st / 2nd samples/s | "
          "aihwkit 1st / 2nd samples/s | speed-up vs aihwkit 1st / 2nd | "
          "acim analog 2nd time / float time |")
    print("|---|---|---|---|---|---|---|")
    for name, b, sf, sa, sa2, sh, sw, up, up_warm, cost in rows:
        print(f"| {name} | {b} | {sf:.4g} | {sa:.4g} / {sa2:.4g} | {sh:.4g} / {sw:.4g} | "
              f"{up:.2f}x / {up_warm:.2f}x | {cost:.2f}x |")
    print(f"\nPhysical limit: each network's MACs per sample at the GEMM peak above "
          f"({peak['peak_gflops']:.1f} GFLOP/s = {peak['peak_gflops'] / 2:.1f} GMAC/s), and how "
          f"close each simulator (warm runs) comes; the issue's goal (20x aihwkit's warm "
          f"throughput at batch 1, 10x at batch 256) against that limit; and the floor under "
          f"acim's analog time that its ADC conversions set, one normal draw each at the "
          f"generator's rate above, against acim's float time (the issue's goal: analog at most "
          f"1.5x float):\n")
    print("| network | batch | MACs / sample | limit samples/s | acim float % of limit | "
          "acim analog % of limit | aihwkit % of limit | goal samples/s | goal / limit | "
          "conversions / sample | their normal draws' time / float time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, b, macs, limit, pf, pa, ph, goal, over, conv, floor in limit_rows:
        beyond = " (beyond the limit)" if over > 1 else ""
        print(f"| {name} | {b} | {macs:,} | {limit:.4g} | {100 * pf:.1f} % | {100 * pa:.2f} % | "
              f"{100 * ph:.2f} % | {goal:.4g} | {over:.2f}{beyond} | {conv:,} | {floor:.2f}x |")
    print(f"\nOutput error vs float (per-sample relative L2 error of the logits, mean over "
          f"batch {big}; mean ± standard error over {args.instances} instances; agreement: "
          f"difference within the 95 % Welch t interval):\n")
    print("| network | acim analog error | aihwkit error | difference | 95 % interval | agree |")
    print("|---|---|---|---|---|---|")
    all_agree = True
    for name, _, (ma, sa), (mh, sh), half, agree in err_rows:
        all_agree &= agree
        print(f"| {name} | {ma:.4f} ± {sa:.4f} | {mh:.4f} ± {sh:.4f} | {ma - mh:+.4f} | "
              f"±{half:.4f} | {'yes' if agree else 'NO'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gemm_peak": peak, "speed": rows, "limit": limit_rows,
                       "errors": err_rows}, f, indent=1)
    return 0 if (all_agree or not args.require_agreement) else 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["export", "run"])
    ap.add_argument("--work", required=True, help="folder for the per-network files")
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--batches", default="1,256")
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs (export)")
    ap.add_argument("--calib", type=int, default=16, help="calibration samples (export)")
    ap.add_argument("--instances", type=int, default=5, help="chip instances per network (run)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--json", help="also write the numbers here (run)")
    ap.add_argument("--require-agreement", action="store_true",
                    help="exit 3 when an error statistic disagrees (run)")
    args = ap.parse_args()
    args.networks = [n for n in args.networks.split(",") if n]
    for n in args.networks:
        if n not in NETWORKS:
            ap.error(f"unknown network '{n}' (known: {', '.join(NETWORKS)})")
    args.batches = sorted(int(b) for b in args.batches.split(","))
    if args.stage == "run" and args.instances < 2:
        ap.error("--instances must be at least 2 (the error check needs a standard error)")
    if args.stage == "export":
        export(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
