"""The `.onnx` cascade file: written (from PyTorch) and read here only.

One ONNX file holds the whole cascade. Stage i (1-based) is an independent
subgraph from input `stage{i}_input` (float32 (N, 3, S, S) RGB in [0, 1],
dynamic batch axis N; ImageNet mean/std is applied inside the graph) to output
`stage{i}_output` (float32 (N, K, 2), K the scheme's points, normalised to [-1, 1] across the crop, see
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
    precision          "float16" in an FP16-typed copy (`facealign export --fp16`, formats/onnx_fp16.py);
                       absent in the float32 files

Reading needs `onnx` only; writing (`to_onnx`) exports the PyTorch modules, so it needs torch.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from ..models.cascade import StageSpec
from .atomic import atomic_write_bytes

FORMAT = "facealign-onnx-cascade"
FORMAT_VERSION = 1
SUFFIX = ".onnx"
DEFAULT_OPSET = 17
NORMALISATION = ("input: float32 (N,3,S,S) RGB in [0,1] (ImageNet mean/std applied inside the graph); "
                 "output: float32 (N,K,2) in [-1,1] across the crop (K: meta's scheme, 68 when absent), "
                 "-1 = left/top edge of pixel 0")


def io_names(i: int) -> tuple[str, str]:
    """Input and output tensor names of stage i (0-based index; names are 1-based)."""
    return f"stage{i + 1}_input", f"stage{i + 1}_output"


def facealign_version() -> str:
    try:
        return metadata.version("facealign")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class OnnxCascade:
    """A facealign ONNX model, parsed: the model, its stage specs and metadata."""

    model: object  # onnx.ModelProto
    stages: list[StageSpec]
    meta: dict = field(default_factory=dict)  # cascade meta + preset, facealign_version, weights_sha256

    @classmethod
    def from_model(cls, model) -> OnnxCascade:
        return cls(model, *parse_metadata(model))

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
    meta.update({k: props[k] for k in ("preset", "facealign_version", "weights_sha256", "precision") if k in props})
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


def metadata_props(stages: list[StageSpec], meta: dict, weights_sha256: str = "") -> dict[str, str]:
    """The metadata_props of a facealign ONNX cascade (all strings)."""
    n = len(stages)
    names_in, names_out = zip(*(io_names(i) for i in range(n)))
    return {
        "facealign_format": FORMAT, "facealign_format_version": str(FORMAT_VERSION),
        "stages": json.dumps([asdict(s) for s in stages]),
        "input_sizes": json.dumps([s.input_size for s in stages]),
        "inputs": json.dumps(list(names_in)), "outputs": json.dumps(list(names_out)),
        "normalisation": NORMALISATION, "preset": str(meta.get("preset", "")),
        "facealign_version": facealign_version(), "weights_sha256": weights_sha256,
        "meta": json.dumps(meta, default=_jsonable),
    }


def _jsonable(obj):
    if isinstance(obj, (np.ndarray, np.generic)) or hasattr(obj, "tolist"):  # numpy arrays, torch tensors
        return obj.tolist()
    return str(obj)


def to_onnx(casc, opset: int = DEFAULT_OPSET, preset: str | None = None, weights_sha256: str = ""):
    """A CascadeFile (formats.cascade_pt) as one onnx.ModelProto: float32, dynamic batch, metadata inside."""
    import onnx
    import torch

    class Stages(torch.nn.Module):
        """All stages side by side: forward(x1, x2, ...) -> (y1, y2, ...), no link between them."""

        def __init__(self, models):
            super().__init__()
            self.stages = torch.nn.ModuleList(models)

        def forward(self, *xs):
            return tuple(m(x) for m, x in zip(self.stages, xs))

    n = len(casc.stages)
    names_in, names_out = zip(*(io_names(i) for i in range(n)))
    example = tuple(torch.rand(2, s.in_channels, s.input_size, s.input_size) for s in casc.stages)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(Stages(casc.models()).eval(), example, buf, dynamo=False, opset_version=opset,
                          input_names=list(names_in), output_names=list(names_out),
                          dynamic_axes={name: {0: "batch"} for name in names_in + names_out})
    model = onnx.load_from_string(buf.getvalue())
    meta = dict(casc.meta)
    if preset:
        meta["preset"] = preset
    for key, value in metadata_props(casc.stages, meta, weights_sha256).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"facealign {n}-stage {casc.scheme.num_points}-point landmark cascade. {NORMALISATION}"
    return model


def write_onnx(model, path) -> Path:
    """Check a facealign ONNX model (onnx.checker with full_check: strict type and shape inference)
    and write it atomically."""
    import onnx

    parse_metadata(model)
    onnx.checker.check_model(model, full_check=True)
    return atomic_write_bytes(path, model.SerializeToString())
