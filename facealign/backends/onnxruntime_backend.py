"""ONNX Runtime backend, and the reader of facealign's ONNX cascade files.

One ONNX file holds the whole cascade. Stage i (1-based) is an independent
subgraph from input `stage{i}_input` (float32 (N, 3, S, S) RGB in [0, 1],
dynamic batch axis N; ImageNet mean/std is applied inside the graph) to output
`stage{i}_output` (float32 (N, 68, 2) normalised to [-1, 1] across the crop, see
models.codec.PointCodec). Everything a loader needs travels in the file's
`metadata_props`, each value a string (JSON where structured, parsed with
`json.loads`, never eval):

    facealign_format   "facealign-onnx-cascade"      facealign_format_version  "1"
    stages             JSON list of StageSpec dicts (dataclasses.asdict)
    input_sizes        JSON list of S per stage      inputs / outputs  JSON lists of tensor names
    normalisation      the input/output convention above, in words
    preset             e.g. "accurate"               facealign_version  the exporter's version
    weights_sha256     sha256 of the source weights file
    meta               JSON of the cascade file's meta (training config, metrics, ...)

ONNX Runtime insists on every graph input being fed, so each stage runs in its
own session built from its extracted subgraph: `session.run([out], {in: x})`
computes that stage alone.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.cascade import StageSpec

log = logging.getLogger(__name__)

FORMAT = "facealign-onnx-cascade"
FORMAT_VERSION = 1
NORMALISATION = ("input: float32 (N,3,S,S) RGB in [0,1] (ImageNet mean/std applied inside the graph); "
                 "output: float32 (N,68,2) in [-1,1] across the crop, -1 = left/top edge of pixel 0")


def io_names(i: int) -> tuple[str, str]:
    """Input and output tensor names of stage i (0-based index; names are 1-based)."""
    return f"stage{i + 1}_input", f"stage{i + 1}_output"


@dataclass
class OnnxCascade:
    """A facealign ONNX file, parsed: the model, its stage specs and metadata."""

    model: object  # onnx.ModelProto
    stages: list[StageSpec]
    meta: dict = field(default_factory=dict)  # cascade meta + preset, facealign_version, weights_sha256

    def stage_model(self, i: int):
        """Stage i's subgraph alone, as an onnx.ModelProto (same opset and IR version)."""
        import onnx.utils

        name_in, name_out = io_names(i)
        return onnx.utils.Extractor(self.model).extract_model([name_in], [name_out])

    def stage_bytes(self, i: int) -> bytes:
        return self.stage_model(i).SerializeToString()


def parse_metadata(model) -> tuple[list[StageSpec], dict]:
    """metadata_props of a facealign ONNX model -> (stage specs, meta dict). ValueError if absent."""
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("facealign_format") != FORMAT:
        raise ValueError("not a facealign ONNX cascade (no facealign_format metadata); "
                         "export one with `facealign export WEIGHTS --format onnx`")
    version = int(props.get("facealign_format_version", "0"))
    if version > FORMAT_VERSION:
        raise ValueError(f"facealign ONNX format version {version} is newer than this reader ({FORMAT_VERSION}); "
                         "upgrade facealign")
    try:
        stages = [StageSpec(**s) for s in json.loads(props["stages"])]
        meta = json.loads(props.get("meta", "{}"))
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"facealign ONNX metadata is damaged ({e})") from None
    meta.update({k: props[k] for k in ("preset", "facealign_version", "weights_sha256") if k in props})
    return stages, meta


def read_onnx(path) -> OnnxCascade:
    """Read and parse a facealign ONNX cascade file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - any protobuf failure means a bad file
        raise ValueError(f"{path}: not a readable ONNX file ({e})") from None
    try:
        stages, meta = parse_metadata(model)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    names = {i.name for i in model.graph.input}
    missing = [io_names(i)[0] for i in range(len(stages)) if io_names(i)[0] not in names]
    if missing:
        raise ValueError(f"{path}: graph lacks the stage inputs {missing}")
    return OnnxCascade(model, stages, meta)


def session_options(threads: int | None = None):
    """CPU session options for low latency: all graph optimisations, sequential execution,
    `threads` intra-op threads (None: ONNX Runtime's default, one per physical core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3  # errors only
    return opts


def _runner(session, name_in: str, name_out: str):
    def run(x: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 RGB in [0, 1] -> (N, 68, 2) float32 normalised."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return session.run([name_out], {name_in: x})[0]
    return run


def load(path, threads: int | None = None, providers: list[str] | None = None, **_):
    """Load a facealign ONNX cascade into one ONNX Runtime session per stage -> CascadeModel.

    threads: intra-op threads per session (None: the library default);
    providers: ONNX Runtime execution providers (default CPU only).
    """
    import onnxruntime as ort

    from . import CascadeModel

    casc = read_onnx(path)
    opts = session_options(threads)
    providers = providers or ["CPUExecutionProvider"]
    runners = []
    for i in range(len(casc.stages)):
        session = ort.InferenceSession(casc.stage_bytes(i), sess_options=opts, providers=providers)
        runners.append(_runner(session, *io_names(i)))
    log.info("loaded %s: %d stage(s), providers %s", path, len(runners), providers)
    return CascadeModel(casc.stages, runners, "onnxruntime", casc.meta)
