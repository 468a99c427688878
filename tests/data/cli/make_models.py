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

# Bad input the reliability tests (tests/cli/test_cli_bad_input.cpp, tests/unit/test_limits.cpp)
# feed to acim: each must be refused with one clear error before anything is written.

# An initializer declaring 2^40 floats (4 TiB) and holding no data: over the tensor size limit.
huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 40])
save(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu1")],
                       "huge", [x_in([2, 3])], [y_out()], initializer=[huge]), "huge_tensor.onnx")

# A cycle: 'a' is made from 'b' and 'b' from 'a' (no topological order exists).
save(helper.make_graph([
    helper.make_node("Add", ["x", "b"], ["a"], name="loop_a"),
    helper.make_node("Relu", ["a"], ["b"], name="loop_b"),
    helper.make_node("Relu", ["b"], ["y"], name="out"),
], "cyclic", [x_in([2, 3])], [y_out()]), "cyclic.onnx")

# Node 'in_0''s attribute 'body' is a graph whose node has such a graph, 200 graphs deep (600
# protobuf message levels, past protobuf's limit of 100). Written as protobuf wire bytes by hand:
# the Python protobuf runtime itself refuses to build so deep a message.


def varint(n):
    out = b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if n == 0:
            return out


def field(number, payload):  # a length-delimited field
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


x_info = x_in([2, 3]).SerializeToString()
y_info = y_out().SerializeToString()
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="leaf")], "leaf",
                          [x_in([2, 3])], [y_out()]).SerializeToString()
for depth in range(200):
    # AttributeProto: name = 1, g = 6, type = 20 (GRAPH = 5)
    attribute = field(1, "body") + field(6, graph) + varint(20 << 3) + varint(5)
    # NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5
    node = field(1, "x") + field(2, "y") + field(3, f"in_{depth}") + field(4, "Relu") + \
        field(5, attribute)
    # GraphProto: node = 1, name = 2, input = 11, output = 12
    graph = field(1, node) + field(2, f"g{depth}") + field(11, x_info) + field(12, y_info)
# ModelProto: ir_version = 1, graph = 7, opset_import = 8
opset = helper.make_opsetid("", 17).SerializeToString()
with open(os.path.join(HERE, "nested.onnx"), "wb") as f:
    f.write(varint(1 << 3) + varint(8) + field(8, opset) + field(7, graph))

# Initializer 'w' whose external data is '../secret.bin': outside the model's folder.
w_ext = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3],
                    data_location=TensorProto.EXTERNAL)
for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "24")):
    entry = w_ext.external_data.add()
    entry.key, entry.value = key, value
save(helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="add1")],
                       "escape", [x_in([2, 3])], [y_out()], initializer=[w_ext]),
     "external_escape.onnx")
