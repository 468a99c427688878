#!/usr/bin/env python3
"""Side by side: acim's CrossbarArray::mvm (PCM defaults) vs IBM aihwkit's analog tile forward.

Runs in .venv-aihwkit (scripts/setup_aihwkit.sh); called by scripts/bench_crossbar.sh --aihwkit.
Both sides single-threaded, on the same machine, alternating A/B for --reps rounds; medians.

Matching configuration (as far as the two models map onto each other):
  acim (bench/bench_crossbar.cpp, "pcm")           aihwkit (InferenceRPUConfig)
  N x N weights, differential pairs (2N columns)  AnalogLinear(N, N, bias=False): one tile
  PCM cell: Nandakumar ICECS 2019 statistics       noise_model = PCMLikeNoiseModel(g_max=25)
    (programming noise, drift nu, 1/f at t)          (programming noise, drift, 1/f read noise)
  time_since_programming_s = 1                     drift_analog_weights(t_inference=1.0)
  drift_compensation = true                        drift_compensation = GlobalDriftCompensation()
  DAC 8 bits, 127 levels per sign, range from      forward.inp_res = 1/(2^8 - 2),
    calibration (max |x|)                            noise_management = ABS_MAX (max |x| per input)
  ADC 8 bits, calibrated full scale, no re-runs    forward.out_res = 1/(2^8 - 2),
                                                     bound_management = NONE (no iterative re-runs)
  ADC noise 1 LSB per conversion                   forward.out_noise = 1/(2^8 - 2) * out_bound
  no per-MVM weight noise (PCM read noise is the   forward.w_noise_type = NONE
    1/f state drawn at t)
Not mapped: acim's per-column calibrated ADC range vs aihwkit's fixed out_bound (12); neither
changes the amount of work per MVM.
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

SHAPES = [(256, 1), (256, 256), (1024, 1), (1024, 256)]


def acim_once(binary, n, batch, min_time):
    """Median-free single measurement: seconds per MVM of acim's mvm_pcm at (n, batch)."""
    flt = f"mvm_pcm/n:{n}/batch:{batch}/"
    out = subprocess.run(
        [binary, f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time}",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, ACIM_BENCH_THREADS="1"))
    runs = [b for b in json.loads(out.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    assert runs, f"no acim benchmark matched {flt}"
    b = runs[0]
    assert b["time_unit"] == "us"
    return b["real_time"] * 1e-6


def make_aihwkit_layer(n):
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import InferenceRPUConfig
    from aihwkit.simulator.parameters.enums import (BoundManagementType, NoiseManagementType,
                                                    WeightNoiseType)
    cfg = InferenceRPUConfig()
    cfg.noise_model = PCMLikeNoiseModel(g_max=25.0)
    cfg.drift_compensation = GlobalDriftCompensation()
    cfg.forward.inp_res = 1.0 / (2**8 - 2)
    cfg.forward.out_res = 1.0 / (2**8 - 2)
    cfg.forward.out_noise = cfg.forward.out_bound / (2**8 - 2)
    cfg.forward.noise_management = NoiseManagementType.ABS_MAX
    cfg.forward.bound_management = BoundManagementType.NONE
    cfg.forward.w_noise_type = WeightNoiseType.NONE
    cfg.mapping.max_input_size = 0  # one tile for the whole matrix
    cfg.mapping.max_output_size = 0
    layer = AnalogLinear(n, n, bias=False, rpu_config=cfg)
    layer.eval()
    layer.program_analog_weights()
    layer.drift_analog_weights(t_inference=1.0)
    return layer


def time_call(fn, min_time):
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        el = time.perf_counter() - start
        if el >= min_time and calls >= 3:
            return el / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acim-bench", required=True, help="path to acim_bench_crossbar")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_args()

    import torch
    import aihwkit
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"aihwkit {aihwkit.__version__}, torch {torch.__version__}, threads 1, "
          f"{args.reps} alternating rounds, medians\n")
    print("| weights | batch | acim mvm µs | aihwkit forward µs | torch matmul µs | "
          "aihwkit / acim |")
    print("|---|---|---|---|---|---|")
    for n, batch in SHAPES:
        layer = make_aihwkit_layer(n)
        w = torch.empty(n, n).uniform_(-1, 1)
        x = torch.empty(batch, n).uniform_(-1, 1)
        t_acim, t_aihw, t_mm = [], [], []
        with torch.no_grad():
            for _ in range(args.reps):
                t_acim.append(acim_once(args.acim_bench, n, batch, args.min_time))
                t_aihw.append(time_call(lambda: layer(x), args.min_time))
                t_mm.append(time_call(lambda: torch.matmul(x, w), args.min_time))
        a, h, m = (statistics.median(t) * 1e6 for t in (t_acim, t_aihw, t_mm))
        print(f"| {n}x{n} | {batch} | {a:.1f} | {h:.1f} | {m:.1f} | {h / a:.1f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
