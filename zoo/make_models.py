#!/usr/bin/env python3
"""Writes acim's bundled example models (ONNX, opset 17, float32, batch dim "N").

The weights are He-initialised random numbers from a fixed seed: these are untrained
architecture references for shapes, MAC counts, mapping and speed, not classifiers.
Trained keyword-spotting weights come later.

Run from anywhere:  .venv/bin/python zoo/make_models.py
It rewrites zoo/*/*.onnx and examples/kws_input.npy byte for byte the same each time.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Builder:
    """Collects nodes and initializers of one graph; names values layer by layer."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def he(self, name, shape, fan_in):
        std = np.sqrt(2.0 / fan_in)
        return self.const(name, (self.rng.standard_normal(shape) * std).astype(np.float32))

    def node(self, op, inputs, output, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def conv(self, x, name, cin, cout, kh, kw, stride=(1, 1), pads=(0, 0, 0, 0), group=1,
             bias=False):
        fan_in = cin // group * kh * kw
        w = self.he(name + ".weight", (cout, cin // group, kh, kw), fan_in)
        inputs = [x, w]
        if bias:
            inputs.append(self.const(name + ".bias", np.zeros(cout, np.float32)))
        return self.node("Conv", inputs, name + ".out", name, kernel_shape=[kh, kw],
                         strides=list(stride), pads=list(pads), group=group,
                         dilations=[1, 1])

    def bn(self, x, name, c):
        # Non-trivial statistics so that folding BatchNormalization is actually exercised.
        scale = self.const(name + ".scale",
                           (1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32))
        shift = self.const(name + ".bias", (0.1 * self.rng.standard_normal(c)).astype(np.float32))
        mean = self.const(name + ".mean", (0.1 * self.rng.standard_normal(c)).astype(np.float32))
        var = self.const(name + ".var", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.node("BatchNormalization", [x, scale, shift, mean, var], name + ".out", name,
                         epsilon=1e-5)

    def relu(self, x, name):
        return self.node("Relu", [x], name + ".out", name)

    def gemm(self, x, name, fin, fout):
        # Weight stored [out, in] with transB=1, as PyTorch exports nn.Linear.
        w = self.he(name + ".weight", (fout, fin), fin)
        b = self.const(name + ".bias", np.zeros(fout, np.float32))
        return self.node("Gemm", [x, w, b], name + ".out", name, transB=1)

    def model(self, graph_name, inputs, outputs, doc):
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="acim zoo/make_models.py",
                                  producer_version="1")
        model.ir_version = 8
        model.doc_string = doc
        onnx.checker.check_model(model, full_check=True)
        return model


def tensor(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def ds_cnn_s():
    """DS-CNN-S of "Hello Edge" (Zhang et al. 2017), 49x10 MFCC in, 12 classes out."""
    b = Builder(seed=1)
    # conv 10x4 stride 2x2, TensorFlow SAME padding: 49x10 -> 25x5 (pads top 4, bottom 5,
    # left 1, right 1).
    x = b.conv("input", "conv1", 1, 64, 10, 4, stride=(2, 2), pads=(4, 1, 5, 1))
    x = b.relu(b.bn(x, "conv1.bn", 64), "conv1.relu")
    for i in range(1, 5):
        p = f"ds{i}"
        x = b.conv(x, p + ".dw", 64, 64, 3, 3, pads=(1, 1, 1, 1), group=64)
        x = b.relu(b.bn(x, p + ".dw.bn", 64), p + ".dw.relu")
        x = b.conv(x, p + ".pw", 64, 64, 1, 1)
        x = b.relu(b.bn(x, p + ".pw.bn", 64), p + ".pw.relu")
    x = b.node("GlobalAveragePool", [x], "pool.out", "pool")
    x = b.node("Flatten", [x], "flatten.out", "flatten", axis=1)
    b.gemm(x, "fc", 64, 12)
    b.nodes[-1].output[0] = "logits"
    return b.model("ds_cnn_s", [tensor("input", ["N", 1, 49, 10])],
                   [tensor("logits", ["N", 12])],
                   "DS-CNN-S (Hello Edge, Zhang et al. 2017); untrained, He-initialised "
                   "random weights (seed 1).")


def resnet20_cifar():
    """ResNet-20 for CIFAR-10 (He et al. 2016): 3 stages x 3 basic blocks, 16/32/64 channels.

    Shortcuts: identity where shapes match; where a stage downsamples, a 1x1 stride-2
    convolution + BN projection (option B of the paper, not option A's zero padding).
    """
    b = Builder(seed=2)
    x = b.conv("input", "conv1", 3, 16, 3, 3, pads=(1, 1, 1, 1))
    x = b.relu(b.bn(x, "conv1.bn", 16), "conv1.relu")
    cin = 16
    for s, cout in enumerate((16, 32, 64), start=1):
        for k in range(3):
            p = f"stage{s}.block{k}"
            stride = 2 if (s > 1 and k == 0) else 1
            y = b.conv(x, p + ".conv1", cin, cout, 3, 3, stride=(stride, stride),
                       pads=(1, 1, 1, 1))
            y = b.relu(b.bn(y, p + ".bn1", cout), p + ".relu1")
            y = b.conv(y, p + ".conv2", cout, cout, 3, 3, pads=(1, 1, 1, 1))
            y = b.bn(y, p + ".bn2", cout)
            if stride != 1 or cin != cout:
                sc = b.conv(x, p + ".shortcut", cin, cout, 1, 1, stride=(stride, stride))
                sc = b.bn(sc, p + ".shortcut.bn", cout)
            else:
                sc = x
            y = b.node("Add", [y, sc], p + ".add.out", p + ".add")
            x = b.relu(y, p + ".relu2")
            cin = cout
    x = b.node("GlobalAveragePool", [x], "pool.out", "pool")
    x = b.node("Flatten", [x], "flatten.out", "flatten", axis=1)
    b.gemm(x, "fc", 64, 10)
    b.nodes[-1].output[0] = "logits"
    return b.model("resnet20_cifar", [tensor("input", ["N", 3, 32, 32])],
                   [tensor("logits", ["N", 10])],
                   "ResNet-20 for CIFAR-10 (He et al. 2016), 1x1-conv projection shortcuts; "
                   "untrained, He-initialised random weights (seed 2).")


def mlp_mnist():
    """784-256-128-10 multilayer perceptron (Gemm + Relu)."""
    b = Builder(seed=3)
    x = b.relu(b.gemm("input", "fc1", 784, 256), "relu1")
    x = b.relu(b.gemm(x, "fc2", 256, 128), "relu2")
    b.gemm(x, "fc3", 128, 10)
    b.nodes[-1].output[0] = "logits"
    return b.model("mlp_mnist", [tensor("input", ["N", 784])], [tensor("logits", ["N", 10])],
                   "784-256-128-10 MLP; untrained, He-initialised random weights (seed 3).")


def lstm_kws():
    """One-layer LSTM over 49 MFCC frames of 10 features, hidden 64, last state -> 12 classes.

    Input [N, 49, 10] (batch first, as a user's feature pipeline produces it); transposed to
    ONNX's default [seq, batch, features] layout for the LSTM.
    """
    b = Builder(seed=4)
    steps, feats, hidden = 49, 10, 64
    x = b.node("Transpose", ["input"], "to_seq.out", "to_seq", perm=[1, 0, 2])
    # Gate order i, o, f, c as ONNX defines; biases zero except the forget gate's (1.0).
    w = b.he("lstm.W", (1, 4 * hidden, feats), feats)
    r = b.he("lstm.R", (1, 4 * hidden, hidden), hidden)
    bias = np.zeros((1, 8 * hidden), np.float32)
    bias[0, 2 * hidden:3 * hidden] = 1.0
    bias_name = b.const("lstm.B", bias)
    b.nodes.append(helper.make_node("LSTM", [x, w, r, bias_name], ["", "lstm.Y_h"],
                                    name="lstm", hidden_size=hidden, direction="forward"))
    axes = b.const("squeeze.axes", np.array([0], np.int64))
    x = b.node("Squeeze", ["lstm.Y_h", axes], "squeeze.out", "squeeze")  # [1,N,64] -> [N,64]
    b.gemm(x, "fc", hidden, 12)
    b.nodes[-1].output[0] = "logits"
    return b.model("lstm_kws", [tensor("input", ["N", steps, feats])],
                   [tensor("logits", ["N", 12])],
                   "LSTM keyword-spotting reference (49x10 MFCC, hidden 64); untrained, "
                   "He-initialised random weights (seed 4).")


MODELS = {
    "kws/ds_cnn_s.onnx": ds_cnn_s,
    "resnet/resnet20_cifar.onnx": resnet20_cifar,
    "mlp/mlp_mnist.onnx": mlp_mnist,
    "lstm/lstm_kws.onnx": lstm_kws,
}


def main():
    for rel, make in MODELS.items():
        path = os.path.join(ROOT, "zoo", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model = make()
        with open(path, "wb") as f:
            f.write(model.SerializeToString(deterministic=True))
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                     if t.data_type == TensorProto.FLOAT)
        print(f"wrote zoo/{rel}: {len(model.graph.node)} nodes, {params} float parameters")

    # The README's demo input: one seeded random [1,1,49,10] MFCC-like tensor.
    rng = np.random.default_rng(7)
    kws = rng.standard_normal((1, 1, 49, 10)).astype(np.float32)
    path = os.path.join(ROOT, "examples", "kws_input.npy")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, kws)
    print("wrote examples/kws_input.npy: float32 [1,1,49,10]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
