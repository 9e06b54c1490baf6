"""An INT8 copy of a facealign ONNX cascade, for onnxruntime on the CPU (static, QDQ, per-channel).

The network body is quantised: every Conv / Gemm / MatMul and every node it depends on gets
QuantizeLinear / DequantizeLinear pairs (weights int8 per output channel, symmetric;
activations uint8, ranges from calibration), which onnxruntime fuses into integer kernels (VNNI
where the CPU has it), except each stage's stem (`stem_nodes`: its first convolution on the
3-channel picture, the Relu and MaxPool after it), which onnxruntime runs faster in float32; such a
file needs its sessions made without onnxruntime's QDQPropagationTransformer
(`STEM_FLOAT_DISABLED_OPTIMIZERS`, which the onnxruntime backend passes), else onnxruntime moves the
first quantisation up through the MaxPool and runs that in uint8 in a slow layout (docs/speed.md
section 8). What follows the body, the decoding tail (the PIP head's argmax and everything that
depends on it: the products at the cells, the neighbour votes, the point scores), stays float32, as
in formats/onnx_fp16.py. The head's score convolution, and the features the tail reads, are
quantised too, passing through uint8 before the tail, unless `head_float=True` (the fast preset's
file) keeps them float32 (docs/speed.md, weights/README.md).
Every input, output and metadata entry of the float file is kept; `precision` becomes "int8".
Calibration data are dicts {stage input name: (N, C, S, S) float32}, one per batch, made by
facealign.quantize from training faces with the pipeline's own crop code: each stage's tensors
are calibrated on its own inputs, all stages in one pass (they are independent subgraphs).
Needs onnxruntime's quantization tools (part of the onnxruntime wheel) and onnx; no PyTorch.
"""
from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from .onnx_fp16 import body_nodes, control_flow_nodes

PRECISION = "int8"
HEAVY = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
METHODS = ("minmax", "entropy", "percentile")


def body_and_head(graph) -> tuple[set[int], set[int]]:
    """(body, head) node indices: the body is every heavy node and all it depends on; the head the
    body nodes whose outputs are read outside the body (by the decoding tail or as graph outputs),
    and for each such node that is not heavy itself (a Relu after a convolution) the nodes back to the
    heavy ones it comes from, so that with head_float every tensor the tail reads is computed in float32."""
    body = body_nodes(graph, HEAVY)
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}
    outside = {x for j, n in enumerate(graph.node) if j not in body for x in n.input} | {o.name for o in graph.output}
    todo = [i for i in body if set(graph.node[i].output) & outside]
    head: set[int] = set()
    while todo:
        i = todo.pop()
        if i in head:
            continue
        head.add(i)
        if graph.node[i].op_type not in HEAVY:
            todo.extend(producer[x] for x in graph.node[i].input if producer.get(x) in body)
    return body, head


# what a session of a stem-float file must leave out (onnxruntime.InferenceSession's disabled_optimizers)
STEM_FLOAT_DISABLED_OPTIMIZERS = ("QDQPropagationTransformer",)


def stem_nodes(graph, body: set[int]) -> set[int]:
    """The body nodes up to each stage's first heavy node and the nodes after it before the next
    one: its stem (the convolution on the normalised picture, Relu, MaxPool). On 3 input channels
    onnxruntime's int8 convolution (uint8, NHWC) took longer than the float one (fast's 7x7 stem 249
    against 184 us, accurate's 492 against 407, plus a QuantizeLinear and a Transpose of the input)."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}
    heavy_above: dict[int, int] = {}  # node -> the most heavy nodes on a path to it from an input
    for i, node in enumerate(graph.node):  # topological order
        ups = [producer[x] for x in node.input if x in producer]
        heavy_above[i] = max([heavy_above[j] + (graph.node[j].op_type in HEAVY) for j in ups], default=0)
    return {i for i in body if heavy_above[i] + (graph.node[i].op_type in HEAVY) <= 1}


def disabled_optimizers(meta: dict) -> list[str] | None:
    """The onnxruntime graph optimisers a session of the file with this metadata must leave out."""
    quant = meta.get("quantisation") or {}
    return list(STEM_FLOAT_DISABLED_OPTIMIZERS) if quant.get("stem_float") else None


class _PreprocessAdvice(logging.Filter):
    """Drops quantize_static's advice to run its pre-processing (logged on the root logger): the
    session folds the same constants at load time (measured: same NME, 475 -> 250 nodes in the file only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _quiet_preprocess_advice():
    root, advice = logging.getLogger(), _PreprocessAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


class _Batches:
    """onnxruntime.quantization.CalibrationDataReader over a list of feed dicts."""

    def __init__(self, batches: Iterable[dict]):
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # some onnxruntime versions call it; a one-pass reader has nothing to redo
        pass


def to_int8(model, batches: list[dict], method: str = "minmax", head_float: bool = False, per_channel: bool = True,
            stem_float: bool = True):
    """onnx.ModelProto (float32 facealign cascade) -> a new ModelProto with a QDQ int8 body.

    batches: calibration feeds, each {stage input name: float32 array}; method: minmax, entropy or
    percentile (onnxruntime's calibrators; percentile keeps 99.999 %). ValueError for a graph with
    control flow or an unknown method."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")
    nested = control_flow_nodes(model.graph)
    if nested:
        raise ValueError(f"to_int8 quantises flat graphs only; this one has control flow ({', '.join(nested[:4])})")
    if not batches:
        raise ValueError("to_int8 needs at least one calibration batch")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, node in enumerate(m.graph.node):  # the quantiser selects nodes by name: give each one
        node.name = node.name or f"{node.op_type}_{i}"
    body, head = body_and_head(m.graph)
    keep = (stem_nodes(m.graph, body) if stem_float else set()) | (head if head_float else set())
    quantise = [m.graph.node[i].name for i in sorted(body - keep)]
    props = [(p.key, p.value) for p in m.metadata_props]
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(m, str(src))
        with _quiet_preprocess_advice():
            quantize_static(str(src), str(dst), _Batches(batches), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_quantize=quantise, calibrate_method=calib,
                            extra_options={"CalibMovingAverage": False})
        out = onnx.load(str(dst))
    del out.metadata_props[:]
    for key, value in props:
        if key != "precision":
            entry = out.metadata_props.add()
            entry.key, entry.value = key, value
    entry = out.metadata_props.add()
    entry.key, entry.value = "precision", PRECISION
    quant = {"format": "QDQ", "per_channel": per_channel, "weights": "int8", "activations": "uint8",
             "method": method, "head_float": head_float, "stem_float": stem_float, "batches": len(batches)}
    entry = out.metadata_props.add()
    entry.key, entry.value = "quantisation", json.dumps(quant)
    return out
