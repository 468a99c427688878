#!/usr/bin/env python3
"""Writes the compile-time benchmark models (ONNX, opset 17, float32 weights) into a directory.

The issue's goals: "a ResNet-50-sized network (25 M weights) on a 64-core chip compiles in
< 1 s; a 124 M-weight transformer across stacked chips in < 5 s". The weights are random (a
fixed seed): only the shapes matter to the compiler's speed. The files are large (100 MB and
500 MB): write them outside the repository, never commit them.

  resnet50.onnx  ResNet-50 v1.5 (He et al., CVPR 2016, torchvision's layout): 7x7/2 stem,
                 bottlenecks 3-4-6-3 (stride on the 3x3), BatchNormalization after every conv,
                 1x1 projection shortcuts, 224x224 input, 1000 classes: 25.5 M weights.
  gpt2.onnx      GPT-2 small (Radford et al., 2019): 12 pre-LayerNorm blocks, d = 768, 12 heads,
                 4d MLP with the erf GELU, causal attention over SEQ tokens, the 50257-token
                 embedding read by Gather and tied to the output projection (Gemm, transB = 1),
                 learned positions: 124 M weights. Input: int64 token ids [1, SEQ].
  gpt2_ids.npy   8 random token-id samples [8, SEQ] for `acim compile --calibrate`.

--tiny writes a 2-block ResNet (32x32 input) and a 2-block, d = 64 transformer instead, in
seconds and under 1 MB, for a CTest smoke test of the same path.

Run:  .venv/bin/python scripts/make_compile_models.py OUT_DIR [--tiny] [--seq 128]
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Builder:
    """Nodes and initializers of one graph."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def rand(self, name, shape, std):
        return self.const(name, (self.rng.standard_normal(shape) * std).astype(np.float32))

    def node(self, op, inputs, name, **attrs):
        out = name + ".out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def model(self, name, inputs, outputs):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="acim scripts/make_compile_models.py")
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=False)
        return m


# ---- ResNet ------------------------------------------------------------------------------------

def conv_bn(b, x, name, cin, cout, k, stride=1, relu=True):
    w = b.rand(name + ".weight", (cout, cin, k, k), np.sqrt(2.0 / (cin * k * k)))
    p = k // 2
    y = b.node("Conv", [x, w], name, kernel_shape=[k, k], strides=[stride, stride],
               pads=[p, p, p, p])
    c = lambda s, v: b.const(name + ".bn." + s, v.astype(np.float32))
    y = b.node("BatchNormalization",
               [y, c("scale", 1 + 0.1 * b.rng.standard_normal(cout)),
                c("bias", 0.1 * b.rng.standard_normal(cout)),
                c("mean", 0.1 * b.rng.standard_normal(cout)),
                c("var", b.rng.uniform(0.5, 1.5, cout))], name + ".bn", epsilon=1e-5)
    return b.node("Relu", [y], name + ".relu") if relu else y


def bottleneck(b, x, name, cin, width, stride):
    cout = 4 * width
    y = conv_bn(b, x, name + ".conv1", cin, width, 1)
    y = conv_bn(b, y, name + ".conv2", width, width, 3, stride)
    y = conv_bn(b, y, name + ".conv3", width, cout, 1, relu=False)
    skip = x
    if stride != 1 or cin != cout:
        skip = conv_bn(b, x, name + ".downsample", cin, cout, 1, stride, relu=False)
    y = b.node("Add", [y, skip], name + ".add")
    return b.node("Relu", [y], name + ".out"), cout


def resnet(blocks, widths, size, classes, stem):
    b = Builder(50)
    x = conv_bn(b, "input", "conv1", 3, stem, 7 if size > 64 else 3, 2 if size > 64 else 1)
    if size > 64:
        x = b.node("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2],
                   pads=[1, 1, 1, 1])
    c = stem
    for s, (n, w) in enumerate(zip(blocks, widths)):
        for i in range(n):
            x, c = bottleneck(b, x, f"layer{s + 1}.{i}", c, w, 2 if i == 0 and s > 0 else 1)
    x = b.node("GlobalAveragePool", [x], "avgpool")
    x = b.node("Flatten", [x], "flatten", axis=1)
    fc_w = b.rand("fc.weight", (classes, c), np.sqrt(1.0 / c))
    fc_b = b.const("fc.bias", np.zeros(classes, np.float32))
    y = b.node("Gemm", [x, fc_w, fc_b], "fc", transB=1)
    return b.model("resnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                            [1, 3, size, size])],
                   [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, classes])])


# ---- GPT-2 -------------------------------------------------------------------------------------

def layer_norm(b, x, name, d):
    return b.node("LayerNormalization",
                  [x, b.const(name + ".weight", np.ones(d, np.float32)),
                   b.const(name + ".bias", np.zeros(d, np.float32))], name, axis=-1,
                  epsilon=1e-5)


def linear(b, x, name, din, dout):
    y = b.node("MatMul", [x, b.rand(name + ".weight", (din, dout), 0.02)], name)
    return b.node("Add", [y, b.const(name + ".bias", np.zeros(dout, np.float32))], name + ".bias")


def gelu(b, x, name):
    # 0.5 x (1 + erf(x / sqrt 2)): the form the fuse-gelu pass recognises.
    t = b.node("Div", [x, b.const(name + ".sqrt2", np.array(np.sqrt(2.0), np.float32))],
               name + ".div")
    t = b.node("Erf", [t], name + ".erf")
    t = b.node("Add", [t, b.const(name + ".one", np.array(1.0, np.float32))], name + ".add")
    t = b.node("Mul", [x, t], name + ".mul")
    return b.node("Mul", [t, b.const(name + ".half", np.array(0.5, np.float32))], name + ".half")


def heads(b, x, name, seq, h, dh):
    """[1, seq, h*dh] -> [1, h, seq, dh]"""
    x = b.node("Reshape", [x, b.const(name + ".shape", np.array([1, seq, h, dh], np.int64))],
               name + ".reshape")
    return b.node("Transpose", [x], name + ".transpose", perm=[0, 2, 1, 3])


def attention(b, x, name, seq, d, h):
    dh = d // h
    qkv = linear(b, x, name + ".c_attn", d, 3 * d)
    split = [name + ".q", name + ".k", name + ".v"]
    b.nodes.append(helper.make_node(
        "Split", [qkv, b.const(name + ".split", np.array([d, d, d], np.int64))], split,
        name=name + ".split", axis=-1))
    q, k, v = (heads(b, t, t, seq, h, dh) for t in split)
    kt = b.node("Transpose", [k], name + ".kt", perm=[0, 1, 3, 2])
    s = b.node("MatMul", [q, kt], name + ".scores")
    s = b.node("Mul", [s, b.const(name + ".scale", np.array(1 / np.sqrt(dh), np.float32))],
               name + ".scaled")
    mask = np.triu(np.full((seq, seq), -1e4, np.float32), 1)
    s = b.node("Add", [s, b.const(name + ".mask", mask)], name + ".masked")
    p = b.node("Softmax", [s], name + ".softmax", axis=-1)
    o = b.node("MatMul", [p, v], name + ".context")
    o = b.node("Transpose", [o], name + ".merge", perm=[0, 2, 1, 3])
    o = b.node("Reshape", [o, b.const(name + ".merged", np.array([1, seq, d], np.int64))],
               name + ".merged")
    return linear(b, o, name + ".c_proj", d, d)


def gpt2(layers, d, h, seq, vocab):
    b = Builder(124)
    wte = b.rand("wte", (vocab, d), 0.02)
    x = b.node("Gather", [wte, "input_ids"], "embed", axis=0)
    x = b.node("Add", [x, b.rand("wpe", (seq, d), 0.01)], "embed.pos")
    for i in range(layers):
        n = f"h{i}"
        a = attention(b, layer_norm(b, x, n + ".ln_1", d), n + ".attn", seq, d, h)
        x = b.node("Add", [x, a], n + ".res1")
        m = linear(b, layer_norm(b, x, n + ".ln_2", d), n + ".mlp.c_fc", d, 4 * d)
        m = linear(b, gelu(b, m, n + ".mlp.gelu"), n + ".mlp.c_proj", 4 * d, d)
        x = b.node("Add", [x, m], n + ".res2")
    x = layer_norm(b, x, "ln_f", d)
    x = b.node("Reshape", [x, b.const("ln_f.flat", np.array([seq, d], np.int64))], "ln_f.flat")
    logits = b.node("Gemm", [x, wte], "lm_head", transB=1)  # tied to the embedding
    return b.model("gpt2", [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                                          [1, seq])],
                   [helper.make_tensor_value_info(logits, TensorProto.FLOAT, [seq, vocab])])


def weights(m):
    return sum(int(np.prod(t.dims)) for t in m.graph.initializer if len(t.dims) >= 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--tiny", action="store_true", help="2-block models for a smoke test")
    ap.add_argument("--seq", type=int, default=128, help="transformer tokens (default 128)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    if a.tiny:
        models = {"resnet50": resnet([1, 1], [16, 32], 32, 10, 16),
                  "gpt2": gpt2(2, 64, 4, min(a.seq, 16), 1000)}
    else:
        models = {"resnet50": resnet([3, 4, 6, 3], [64, 128, 256, 512], 224, 1000, 64),
                  "gpt2": gpt2(12, 768, 12, a.seq, 50257)}
    for name, m in models.items():
        path = os.path.join(a.out_dir, name + ".onnx")
        onnx.save(m, path)
        print(f"{path}: {weights(m) / 1e6:.2f} M weights (matrices and kernels)")
    # Calibration samples for `acim compile --calibrate`: random inputs are float only, and the
    # transformer reads token ids. 8 samples, as many as the random calibration draws.
    seq = m.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    vocab = next(t.dims[0] for t in m.graph.initializer if t.name == "wte")
    ids = np.random.default_rng(8).integers(0, vocab, (8, seq), dtype=np.int64)
    np.save(os.path.join(a.out_dir, "gpt2_ids.npy"), ids)


if __name__ == "__main__":
    main()
