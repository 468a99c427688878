#!/usr/bin/env python3
"""acim vs ONNX Runtime, side by side: same machine, same models, same inputs, same threads.

For every (model, batch) it writes one seeded random input as .npy, then for every thread
count runs
  * acim: bench/acim_bench_model (import, default passes, W warm-up runs, K timed runs of
    Executor::run, median) with OMP/OpenBLAS limited to the same thread count;
  * ONNX Runtime (CPU provider): intra_op_num_threads = T, inter_op_num_threads = 1,
    sequential execution, all graph optimisations on; W warm-up runs, K timed runs of
    InferenceSession.run, median;
checks that both give the same outputs (max |acim - ORT| / max |ORT| per output), and prints
a markdown table with the ratio acim/ORT (> 1: acim is slower).

  .venv/bin/python bench/bench_vs_ort.py --acim-bin build/release/bench/acim_bench_model
  scripts/bench_vs_ort.sh            # the same, building the binary first

Exit status 1 if any output differs by more than --tolerance, or a run failed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (path relative to the source tree, input shape with the batch dim first)
MODELS = {
    "ds_cnn_s": ("zoo/kws/ds_cnn_s.onnx", (1, 49, 10)),
    "resnet20_cifar": ("zoo/resnet/resnet20_cifar.onnx", (3, 32, 32)),
    "mlp_mnist": ("zoo/mlp/mlp_mnist.onnx", (784,)),
    "lstm_kws": ("zoo/lstm/lstm_kws.onnx", (49, 10)),
}

DOC_BEGIN = "<!-- bench_vs_ort:begin -->"
DOC_END = "<!-- bench_vs_ort:end -->"


def int_list(text):
    return [int(x) for x in text.split(",") if x]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--acim-bin", default=os.path.join(ROOT, "build/release/bench/acim_bench_model"))
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated: " + ",".join(MODELS))
    p.add_argument("--batches", type=int_list, default=[1, 64])
    p.add_argument("--threads", type=int_list, default=[1, 2])
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--runs", type=int, default=20, help="timed runs per measurement (>= 5)")
    p.add_argument("--rounds", type=int, default=3,
                   help="measurements per cell and tool, alternating; the best median counts")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted max|acim-ORT|/max|ORT|")
    p.add_argument("--markdown", help="also write the report (markdown) to this file")
    p.add_argument("--update-doc", metavar="FILE",
                   help="replace the text between the bench_vs_ort markers in FILE")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.runs < 5:
        p.error("--runs must be at least 5")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    for m in args.models.split(","):
        if m not in MODELS:
            p.error(f"unknown model '{m}'; choose from {', '.join(MODELS)}")
    return args


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_acim(args, model_path, input_name, input_file, threads, out_dir):
    cmd = [args.acim_bin, model_path, "--input", f"{input_name}={input_file}",
           "--threads", str(threads), "--warmup", str(args.warmup), "--runs", str(args.runs),
           "--output-dir", out_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"acim failed: {' '.join(cmd)}\n{proc.stderr.strip()}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = {name: np.load(os.path.join(out_dir, f)) for name, f in result["outputs"].items()}
    return result["median_ms"], outputs


def run_ort(args, model_path, feeds, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for _ in range(args.warmup):
        sess.run(names, feeds)
    times = []
    out = None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        out = sess.run(names, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), dict(zip(names, out))


def max_rel_err(acim_out, ort_out):
    """max over outputs of max|a - o| / max|o| (inf if an output is missing or misshapen)."""
    worst = 0.0
    for name, o in ort_out.items():
        a = acim_out.get(name)
        if a is None or a.shape != o.shape:
            return float("inf")
        scale = float(np.max(np.abs(o))) if o.size else 0.0
        diff = float(np.max(np.abs(a.astype(np.float64) - o.astype(np.float64)))) if o.size else 0.0
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def command_line():
    """The command as the user typed it (scripts/bench_vs_ort.sh passes it in)."""
    given = os.environ.get("ACIM_BENCH_COMMAND")
    if given:
        return given
    return " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])


def machine():
    model, cores = platform.processor() or "unknown", os.cpu_count()
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", text, re.M)
        if m:
            model = m.group(1).strip()
        fam = re.search(r"^CPU family:\s*(\S+)$", text, re.M)
        num = re.search(r"^Model:\s*(\S+)$", text, re.M)
        if fam and num:
            model += f" (family {fam.group(1)}, model {num.group(1)})"
        if re.search(r"^Flags:.*\bavx512f\b", text, re.M):
            model += ", AVX-512"
    except OSError:
        pass
    return f"{model}, {cores} logical CPUs ({platform.machine()}, {platform.system()})"


def main():
    args = parse_args()
    import onnxruntime as ort

    if not os.path.exists(args.acim_bin):
        sys.exit(f"bench_vs_ort: {args.acim_bin} not found; build it with scripts/bench_vs_ort.sh "
                 "or pass --acim-bin")
    rows = []
    failed = False
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="acim_bench_") as tmp:
        for name in args.models.split(","):
            rel, shape = MODELS[name]
            model_path = os.path.join(ROOT, rel)
            for batch in args.batches:
                rng = np.random.default_rng(args.seed)
                x = rng.standard_normal((batch,) + shape).astype(np.float32)
                input_file = os.path.join(tmp, f"{name}_b{batch}.npy")
                np.save(input_file, x)
                for threads in args.threads:
                    out_dir = os.path.join(tmp, f"{name}_b{batch}_t{threads}")
                    label = f"{name} batch {batch} threads {threads}"
                    print(f"bench_vs_ort: {label} ...", file=sys.stderr, flush=True)
                    acim_times, ort_times = [], []
                    try:
                        for _ in range(args.rounds):
                            ms, acim_out = run_acim(args, model_path, "input", input_file,
                                                    threads, out_dir)
                            acim_times.append(ms)
                            ms, ort_out = run_ort(args, model_path, {"input": x}, threads)
                            ort_times.append(ms)
                    except RuntimeError as e:
                        print(f"bench_vs_ort: {label}: {e}", file=sys.stderr)
                        rows.append((name, batch, threads, None, None, None))
                        failed = True
                        continue
                    acim_ms, ort_ms = min(acim_times), min(ort_times)
                    err = max_rel_err(acim_out, ort_out)
                    if not err <= args.tolerance:
                        failed = True
                    rows.append((name, batch, threads, acim_ms, ort_ms, err))

    lines = [
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {machine()}",
        f"- onnxruntime {ort.__version__} (CPUExecutionProvider, intra_op_num_threads = T, "
        "inter_op_num_threads = 1, ORT_SEQUENTIAL, ORT_ENABLE_ALL)",
        f"- acim: `{os.path.relpath(args.acim_bin, ROOT)}` (default passes on)",
        f"- each cell: {args.rounds} alternating rounds per tool of {args.warmup} warm-up and "
        f"{args.runs} timed runs; the smallest round median is shown",
        f"- 1-minute load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}",
        f"- command: `{command_line()}`",
        "",
        "| model | batch | threads | acim ms | ORT ms | acim/ORT | max rel err |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, batch, threads, acim_ms, ort_ms, err in rows:
        if acim_ms is None:
            lines.append(f"| {name} | {batch} | {threads} | failed | | | |")
            continue
        flag = "" if err <= args.tolerance else " **MISMATCH**"
        lines.append(f"| {name} | {batch} | {threads} | {acim_ms:.3f} | {ort_ms:.3f} | "
                     f"{acim_ms / ort_ms:.2f} | {err:.1e}{flag} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report)
    if args.update_doc:
        with open(args.update_doc) as f:
            doc = f.read()
        begin, end = doc.find(DOC_BEGIN), doc.find(DOC_END)
        if begin < 0 or end < begin:
            sys.exit(f"bench_vs_ort: {args.update_doc} has no {DOC_BEGIN} ... {DOC_END} markers")
        doc = doc[:begin + len(DOC_BEGIN)] + "\n" + report + doc[end:]
        with open(args.update_doc, "w") as f:
            f.write(doc)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
