"""An FP16-typed copy of an ONNX graph, for strongly typed TensorRT builds (TensorRT 11 has no FP16 flag).

Every float32 weight, constant and intermediate becomes float16; the graph's inputs and outputs
stay float32, with a Cast after each input and before each output, so a runner feeds and reads
the same arrays as for the float32 graph. Resize scales stay float32 (the operator requires it).
"""
from __future__ import annotations


KEEP_FLOAT32 = {("Resize", 2)}  # (op_type, input index) whose float tensor must stay float32


def to_float16(model):
    """onnx.ModelProto (float32) -> a new ModelProto computing in float16 with float32 inputs/outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep = {node.input[i] for node in g.node for (op, i) in KEEP_FLOAT32
            if node.op_type == op and len(node.input) > i}
    for k, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            arr = numpy_helper.to_array(init).astype("float16")
            g.initializer[k].CopyFrom(numpy_helper.from_array(arr, init.name))
    for node in g.node:
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT and node.output[0] not in keep:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype("float16"), a.t.name))
    del g.value_info[:]  # intermediate types changed; shape inference rebuilds them where needed
    casts_in, rename = [], {}
    for inp in g.input:
        if inp.type.tensor_type.elem_type == TensorProto.FLOAT and inp.name not in {i.name for i in g.initializer}:
            half = inp.name + "_fp16"
            casts_in.append(helper.make_node("Cast", [inp.name], [half], to=TensorProto.FLOAT16,
                                             name=inp.name + "_to_fp16"))
            rename[inp.name] = half
    for node in g.node:
        for j, name in enumerate(node.input):
            if name in rename:
                node.input[j] = rename[name]
    casts_out = []
    for out in g.output:
        if out.type.tensor_type.elem_type == TensorProto.FLOAT:
            half = out.name + "_fp16"
            for node in g.node:
                for j, name in enumerate(node.output):
                    if name == out.name:
                        node.output[j] = half
                for j, name in enumerate(node.input):  # a consumer of the output inside the graph
                    if name == out.name:
                        node.input[j] = half
            casts_out.append(helper.make_node("Cast", [half], [out.name], to=TensorProto.FLOAT,
                                              name=out.name + "_to_fp32"))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    return m
