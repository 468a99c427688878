"""Peak memory of acim running a 124 M-weight transformer (GPT-2 small), float and analog.

Against issue 6's goal: peak resident set size <= 2x the model's float weights plus its
activations. The model (scripts/make_compile_models.py: GPT-2 small, 12 blocks, d = 768,
128 tokens, random weights, embedding tied to the output layer) is made unless it is there.
Three processes are measured, each alone (peak RSS from the kernel's rusage of that child):

  float    acim run MODEL.onnx -i ids.npy               (the reference executor)
  compile  acim compile MODEL.onnx --chip CHIP --chips auto --calibrate ids.npy -o P.acim
  analog   acim run P.acim -i ids.npy                   (one chip instance of the stacked chips)

"weights" are the bytes of the ONNX file's float initializers; "activations" twice the largest
tensor any layer makes (a layer's input and output live together; acim info's shapes), the
least any executor needs. Prints a markdown table; --json FILE also writes the numbers.
The measuring process imports only the standard library (a child's peak RSS includes the
parent's pages it was forked from, until it executes acim); numpy and onnx work runs in a
separate `--prepare` process.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_measured(cmd):
    """(seconds, peak RSS bytes) of one child process; exits with its output if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench_memory: {' '.join(cmd)} failed:\n{err}")
    return seconds, usage.ru_maxrss * 1024  # Linux reports KiB


def model_sizes(acim, model):
    """(float weight bytes, activation bytes) of an ONNX model."""
    import numpy as np
    import onnx
    m = onnx.load(model, load_external_data=False)
    weights = sum(int(np.prod(t.dims)) * 4 for t in m.graph.initializer
                  if t.data_type == onnx.TensorProto.FLOAT)
    info = json.loads(subprocess.check_output([acim, "info", model, "--json"]))
    largest = 0
    for layer in info["layers"]:
        for shape in layer.get("output_shapes", []):
            if all(d >= 0 for d in shape):
                largest = max(largest, int(np.prod(shape)) * 4)
    return weights, 2 * largest


def prepare(args, acim):
    """The --prepare stage: model, one-sample ids and the sizes, as JSON on stdout."""
    import numpy as np
    model = os.path.join(args.models, "gpt2.onnx")
    if not os.path.exists(model):
        subprocess.check_call([sys.executable, os.path.join(ROOT, "scripts",
                                                            "make_compile_models.py"), args.models]
                              + (["--tiny"] if args.tiny else []), stdout=sys.stderr)
    ids = os.path.join(args.models, "gpt2_ids1.npy")
    np.save(ids, np.load(os.path.join(args.models, "gpt2_ids.npy"))[:1])
    weights, activations = model_sizes(acim, model)
    json.dump({"model": model, "ids": ids, "weights": weights, "activations": activations},
              sys.stdout)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--models", help="folder of gpt2.onnx and gpt2_ids.npy, made if missing "
                    "(default /tmp/acim_compile_models, or ..._tiny with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="a 2-block GPT-2 (a smoke test)")
    ap.add_argument("--chip", default="hermes")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.models = args.models or "/tmp/acim_compile_models" + ("_tiny" if args.tiny else "")
    acim = os.path.join(args.build_dir, "bin", "acim")
    if not os.access(acim, os.X_OK):
        sys.exit(f"bench_memory: {acim} not found (build the acim_cli target)")
    if args.prepare:
        return prepare(args, acim)
    prep = json.loads(subprocess.check_output(
        [sys.executable, os.path.abspath(__file__), "--prepare", "--build-dir", args.build_dir,
         "--models", args.models] + (["--tiny"] if args.tiny else [])))
    model, ids = prep["model"], prep["ids"]
    program = os.path.join(args.models, f"gpt2_{args.chip}.acim")
    base = prep["weights"] + prep["activations"]
    rows = []
    for name, cmd in (
            ("float run", [acim, "--threads", "1", "run", model, "-i", ids]),
            ("compile", [acim, "--threads", "1", "compile", model, "--chip", args.chip,
                         "--chips", "auto", "--calibrate", ids, "-o", program]),
            ("analog run", [acim, "--threads", "1", "run", program, "-i", ids])):
        seconds, rss = run_measured(cmd)
        rows.append({"step": name, "seconds": seconds, "peak_rss": rss, "ratio": rss / base})
    print(f"model: {model}: float weights {prep['weights'] / 2**20:.1f} MiB, activations "
          f"{prep['activations'] / 2**20:.1f} MiB (2x the largest layer output); "
          f"chip {args.chip}\n")
    print("| step | wall s | peak RSS MiB | peak RSS / (weights + activations) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['seconds']:.2f} | {r['peak_rss'] / 2**20:.0f} | "
              f"{r['ratio']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(prep, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
