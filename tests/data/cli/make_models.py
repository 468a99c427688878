"""Makes the small ONNX files the CLI tests feed to `acim` (run with the project's venv:
.venv/bin/python tests/data/cli/make_models.py). Deterministic; the outputs are committed."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(graph, name, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="acim-tests")
    model.ir_version = 8
    onnx.save(model, os.path.join(HERE, name))


def x_in(shape):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)


def y_out(shape=None):
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)


# Three unsupported ops among supported ones: the error must list all of them at once.
save(helper.make_graph([
    helper.make_node("Relu", ["x"], ["a"], name="relu1"),
    helper.make_node("NonZero", ["a"], ["b"], name="nonzero1"),
    helper.make_node("Hardmax", ["x"], ["c"], name="hardmax1"),
    helper.make_node("Hardmax", ["x"], ["d"], name="hardmax2"),
    helper.make_node("Relu", ["d"], ["y"], name="relu2"),
], "unsupported", [x_in([2, 3])], [y_out()]), "unsupported_ops.onnx")

# Opset 9: outside the supported range 11-21.
save(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu1")],
                       "old", [x_in([2, 3])], [y_out()]), "opset9.onnx", opset=9)

# A shape mismatch: [2,3] + [4,5] cannot broadcast.
w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
save(helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="bad_add")],
                       "mismatch", [x_in([2, 3])], [y_out()], initializer=[w]), "shape_mismatch.onnx")

# A tiny valid model with two inputs and an output name that is not a safe file name.
save(helper.make_graph([
    helper.make_node("Add", ["x", "z"], ["s"], name="add"),
    helper.make_node("Relu", ["s"], ["out/../../evil"], name="relu"),
], "two_inputs", [x_in([2, 3]), helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])],
    [helper.make_tensor_value_info("out/../../evil", TensorProto.FLOAT, [2, 3])]), "two_inputs.onnx")

np.save(os.path.join(HERE, "x23.npy"), np.arange(-3, 3, dtype=np.float32).reshape(2, 3))
np.save(os.path.join(HERE, "z23.npy"), np.full((2, 3), 0.5, dtype=np.float32))
np.save(os.path.join(HERE, "x45.npy"), np.zeros((4, 5), dtype=np.float32))
