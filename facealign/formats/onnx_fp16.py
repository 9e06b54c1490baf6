"""An FP16-typed copy of an ONNX graph, for strongly typed TensorRT builds (TensorRT 11 has no FP16 flag).

The body of the network computes in float16: every Conv, ConvTranspose and Gemm node and every
node they depend on, with their float32 weights, constants and Casts made float16. What follows
the last of them, the decoding tail (the PIP head's argmax, gathers and neighbour votes, a
soft-argmax, a reshape), stays float32 behind a Cast to float32: a float16 argmax can pick another
cell on a near-flat score map (issue 22), and the tail costs nothing. The graph's inputs and outputs
stay float32, with a Cast after each input, so a runner feeds and reads the same arrays as for the
float32 graph. Resize scales stay float32 (the operator requires it).

Flat graphs only: a graph with control flow (If, Loop, Scan) is refused with a ValueError, since
the branches' own tensors would keep float32 and the result would not type-check. facealign's
exports have none (models/heads/pip.py avoids the squeeze that made the exporter write If nodes).
"""
from __future__ import annotations

HEAVY = frozenset({"Conv", "ConvTranspose", "Gemm"})  # the float16 body: these and all they depend on
KEEP_FLOAT32 = {("Resize", 2)}  # (op_type, input index) whose float tensor must stay float32
FLOAT_VALUE_OPS = ("Constant", "ConstantOfShape")  # nodes whose `value` attribute sets their type


def control_flow_nodes(graph) -> list[str]:
    """Names (op type where unnamed) of the nodes holding subgraphs (If, Loop, Scan)."""
    from onnx import AttributeProto

    return [n.name or n.op_type for n in graph.node
            if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in n.attribute)]


def decoding_tail(graph) -> set[int]:
    """Indices of the nodes that depend on an ArgMax: the PIP decoding, whose products (the features at
    each point's cell times its own weights, models/heads/pip.py) belong to the tail, not the body."""
    tail: set[int] = set()
    tensors = set()
    for i, node in enumerate(graph.node):  # ONNX keeps nodes in topological order
        if node.op_type == "ArgMax" or tensors.intersection(node.input):
            tail.add(i)
            tensors.update(node.output)
    return tail


def body_nodes(graph, heavy=HEAVY) -> set[int]:
    """Indices of the nodes that compute in float16 (or int8, formats/onnx_int8.py): each node of a
    `heavy` type outside the decoding tail and every node it depends on."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}
    tail = decoding_tail(graph)
    todo = [i for i, node in enumerate(graph.node) if node.op_type in heavy and i not in tail]
    body: set[int] = set()
    while todo:
        i = todo.pop()
        if i not in body:
            body.add(i)
            todo.extend(producer[name] for name in graph.node[i].input if name in producer)
    return body


def tensor_types(model) -> dict[str, int]:
    """Every named tensor's element type (TensorProto enum), by ONNX shape inference."""
    import onnx

    g = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.value_info, *g.output]}
    types.update({i.name: i.data_type for i in g.initializer})
    for node in g.node:
        for a in node.attribute:
            if node.op_type in FLOAT_VALUE_OPS and a.name == "value":
                types[node.output[0]] = a.t.data_type
    return types


def to_float16(model):
    """onnx.ModelProto (float32) -> a new ModelProto whose body computes in float16, its decoding
    tail in float32, with float32 inputs and outputs. ValueError for a graph with control flow."""
    import onnx
    from onnx import TensorProto

    nested = control_flow_nodes(model.graph)
    if nested:
        raise ValueError(f"to_float16 converts flat graphs only; this one has control flow "
                         f"({', '.join(nested[:4])}{', ...' if len(nested) > 4 else ''}) whose subgraphs "
                         "would keep float32; export the model without data-dependent branches")
    types = tensor_types(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    body = body_nodes(g)
    keep = {node.input[i] for node in g.node for (op, i) in KEEP_FLOAT32
            if node.op_type == op and len(node.input) > i and node.input[i]}
    halves = {o for i in body for o in g.node[i].output if types.get(o) == TensorProto.FLOAT and o not in keep}
    tail_reads = {x for j, n in enumerate(g.node) if j not in body for x in n.input} | {o.name for o in g.output}
    untyped = [o for i in body for o in g.node[i].output if o in tail_reads and o not in types]
    if untyped:
        raise ValueError(f"to_float16: shape inference gives no type for {untyped[:4]}; cannot tell which "
                         "tensors the float32 tail must cast back")
    _retype_body_nodes(g, body, keep)
    del g.value_info[:]  # intermediate types changed; shape inference rebuilds them where needed
    nodes = _rewire(g, body, halves, keep, types)
    del g.node[:]
    g.node.extend(nodes)
    return m


def _retype_body_nodes(g, body: set[int], keep: set[str]) -> None:
    """Casts to float and float constants inside the body become float16 (those in `keep` stay)."""
    from onnx import TensorProto, numpy_helper

    for i in body:
        node = g.node[i]
        if node.output[0] in keep:
            continue
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if node.op_type in FLOAT_VALUE_OPS and a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype("float16"), a.t.name))


def _rewire(g, body: set[int], halves: set[str], keep: set[str], types: dict[str, int]) -> list:
    """The new node list: body inputs read float16 copies of float32 sources, the tail and the graph's
    outputs read float32 Casts of the body's float16 tensors; each Cast right after its producer."""
    from onnx import TensorProto, helper, numpy_helper

    outputs = {o.name for o in g.output}
    inits = {i.name: i for i in g.initializer}
    inputs = {i.name for i in g.input} - set(inits)
    used_by_tail = {x for j, n in enumerate(g.node) if j not in body for x in n.input}
    half_name = {x: x + "_fp16" if x in outputs else x for x in halves}  # the float16 tensor
    full_name = {x: x if x in outputs else x + "_fp32" for x in halves}  # its float32 Cast
    front, sources = [], {}  # float32 graph inputs / initializers the body reads -> their float16 copy
    for j in body:
        for x in g.node[j].input:
            if x in sources or x in halves or x in keep or types.get(x) != TensorProto.FLOAT:
                continue
            if x in inputs:
                sources[x] = x + "_fp16"
                front.append(helper.make_node("Cast", [x], [x + "_fp16"], to=TensorProto.FLOAT16, name=x + "_to_fp16"))
            elif x in inits:
                shared = x in used_by_tail or x in outputs
                sources[x] = x + "_fp16" if shared else x
                arr = numpy_helper.from_array(numpy_helper.to_array(inits[x]).astype("float16"), sources[x])
                if shared:
                    g.initializer.append(arr)
                else:
                    inits[x].CopyFrom(arr)
    nodes = list(front)
    for j, node in enumerate(g.node):
        names = {**sources, **half_name} if j in body else full_name
        for p, x in enumerate(node.input):
            node.input[p] = names.get(x, x)
        produced = list(node.output)
        for p, x in enumerate(produced):
            if x in halves:
                node.output[p] = half_name[x]
        nodes.append(node)
        for x in (x for x in produced if x in halves and (x in used_by_tail or x in outputs)):
            nodes.append(helper.make_node("Cast", [half_name[x]], [full_name[x]], to=TensorProto.FLOAT,
                                          name=x + "_to_fp32"))
    return nodes
