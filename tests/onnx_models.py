"""Crafted ONNX models for the lifter's contract checks (tests/test_lifter.py) and for run_demo.py
given a model that breaks the contract or answers NaN (tests/test_cli.py)."""
from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def onnx_model(path: Path, input_name="keypoints_2d", input_shape=("N", 17, 2), outputs=("pose_3d", "camera"),
               output_batch="N", output_type=TensorProto.FLOAT, scale=1.0) -> Path:
    """A tiny graph: pose_3d = zeros-padded input, camera = the first three joints, transposed;
    both times `scale` (NaN: a broken model). Only the interface matters."""
    nodes, graph_outputs = [], []
    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))
    constants = [helper.make_tensor("pads", TensorProto.INT64, [6], [0, 0, 0, 0, 0, 1]),
                 helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
                 helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
                 helper.make_tensor("ends", TensorProto.INT64, [1], [3]),
                 helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    nodes.append(helper.make_node("Mul", [input_name, "scale"], ["scaled"]))
    for name, shape, make in (("pose_3d", [17, 3], lambda out: [helper.make_node("Pad", ["scaled", "pads"], [out])]),
                              ("camera", [2, 3], lambda out: [
                                  helper.make_node("Slice", ["scaled", "starts", "ends", "axes"], ["first3"]),
                                  helper.make_node("Transpose", ["first3"], [out], perm=[0, 2, 1])])):
        if name not in outputs:
            continue
        if output_type == TensorProto.FLOAT:
            nodes += make(name)
        else:
            nodes += make(name + "_float") + [helper.make_node("Cast", [name + "_float"], [name], to=output_type)]
        graph_outputs.append(helper.make_tensor_value_info(name, output_type, [output_batch, *shape]))
    graph = helper.make_graph(nodes, "g", [inp], graph_outputs, initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path
