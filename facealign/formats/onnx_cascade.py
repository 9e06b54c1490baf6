"""The `.onnx` cascade file: written (from PyTorch) and read here only.

One ONNX file holds the whole cascade. Stage i (1-based) is an independent
subgraph from input `stage{i}_input` (float32 (N, 3, S, S) RGB in [0, 1],
dynamic batch axis N; ImageNet mean/std is applied inside the graph) to output
`stage{i}_output` (float32 (N, K, 2), K the scheme's points, normalised to [-1, 1] across the crop, see
models.codec.PointCodec) and, when the stage's head scores its points (PIP), a second output
`stage{i}_scores` (float32 (N, K), each point's confidence in [0, 1]). Everything a loader needs travels in the file's
`metadata_props`, each value a string (JSON where structured, parsed with
`json.loads`, never eval):

    facealign_format   "facealign-onnx-cascade"      facealign_format_version  "2"
    stages             JSON list of StageSpec dicts (dataclasses.asdict)
    input_sizes        JSON list of S per stage      inputs / outputs  JSON lists of tensor names
    scores             JSON list, per stage, its scores output's name or null (version 2 on)
    normalisation      the input/output convention above, in words
    preset             e.g. "accurate"               facealign_version  the exporter's version
    weights_sha256     sha256 of the source weights file
    meta               JSON of the cascade file's meta (training config, metrics, ...)
    precision          "float16" in an FP16-typed copy (`facealign export --fp16`, formats/onnx_fp16.py);
                       absent in the float32 files

Version 1 files (before point scores) have no scores outputs and are read as they are: their
stages' scores are None. A file none of whose stages has scores is written as version 1 (it is one),
so older readers still take it. Reading needs `onnx` only; writing (`to_onnx`) exports the PyTorch modules, so it needs torch.
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
FORMAT_VERSION = 2  # 2: stage{i}_scores outputs (version 1 files still read: no scores)
SUFFIX = ".onnx"
DEFAULT_OPSET = 17
NORMALISATION = ("input: float32 (N,3,S,S) RGB in [0,1] (ImageNet mean/std applied inside the graph); "
                 "output: float32 (N,K,2) in [-1,1] across the crop (K: meta's scheme, 68 when absent), "
                 "-1 = left/top edge of pixel 0; scores (where a stage has them): float32 (N,K) in [0,1]")


def io_names(i: int) -> tuple[str, str]:
    """Input and output tensor names of stage i (0-based index; names are 1-based)."""
    return f"stage{i + 1}_input", f"stage{i + 1}_output"


def scores_name(i: int) -> str:
    """Stage i's scores output name (0-based index; names are 1-based)."""
    return f"stage{i + 1}_scores"


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

    @property
    def score_outputs(self) -> list[str | None]:
        """Per stage, its scores output's name, or None (no scores: a head without them, a version 1 file)."""
        names = {o.name for o in self.model.graph.output}
        return [scores_name(i) if scores_name(i) in names else None for i in range(len(self.stages))]

    def stage_outputs(self, i: int) -> list[str]:
        """Stage i's output names: its points, then its scores where it has them."""
        scores = self.score_outputs[i]
        return [io_names(i)[1]] + ([scores] if scores else [])

    def stage_model(self, i: int):
        """Stage i's subgraph alone (its points and scores outputs), as an onnx.ModelProto (same opset
        and IR version)."""
        import onnx.utils

        return onnx.utils.Extractor(self.model).extract_model([io_names(i)[0]], self.stage_outputs(i))

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
    if "quantisation" in props:  # an INT8 copy's settings (formats/onnx_int8.py), which its sessions follow
        try:
            meta["quantisation"] = json.loads(props["quantisation"])
        except json.JSONDecodeError as e:
            raise ValueError(f"facealign ONNX metadata is damaged (quantisation: {e})") from None
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


def metadata_props(stages: list[StageSpec], meta: dict, weights_sha256: str = "",
                   scored: list[bool] | None = None) -> dict[str, str]:
    """The metadata_props of a facealign ONNX cascade (all strings); scored: which stages have a
    scores output (default none)."""
    n = len(stages)
    names_in, names_out = zip(*(io_names(i) for i in range(n)))
    scored = scored or [False] * n
    return {
        "facealign_format": FORMAT, "facealign_format_version": str(FORMAT_VERSION),
        "stages": json.dumps([asdict(s) for s in stages]),
        "input_sizes": json.dumps([s.input_size for s in stages]),
        "inputs": json.dumps(list(names_in)), "outputs": json.dumps(list(names_out)),
        "scores": json.dumps([scores_name(i) if scored[i] else None for i in range(n)]),
        "normalisation": NORMALISATION, "preset": str(meta.get("preset", "")),
        "facealign_version": facealign_version(), "weights_sha256": weights_sha256,
        "meta": json.dumps(meta, default=_jsonable),
    }


def _jsonable(obj):
    if isinstance(obj, (np.ndarray, np.generic)) or hasattr(obj, "tolist"):  # numpy arrays, torch tensors
        return obj.tolist()
    return str(obj)


def to_onnx(casc, opset: int = DEFAULT_OPSET, preset: str | None = None, weights_sha256: str = "",
            scores: bool = True):
    """A CascadeFile (formats.cascade_pt) as one onnx.ModelProto: float32, dynamic batch, metadata inside.
    Each stage whose head scores its points gets its `stage{i}_scores` output; scores=False leaves
    them out (the points-only graph of version 1, which tests use to check old files still read)."""
    import onnx
    import torch

    class Stages(torch.nn.Module):
        """All stages side by side: forward(x1, x2, ...) -> (y1, [s1], y2, [s2], ...), no link between
        them; s_i, stage i's point scores, where it has them."""

        def __init__(self, models, scored):
            super().__init__()
            self.stages, self.scored = torch.nn.ModuleList(models), scored

        def forward(self, *xs):
            outs = []
            for m, x, scored in zip(self.stages, xs, self.scored):
                points, point_scores = m.infer(x)
                outs += [points, point_scores] if scored else [points]
            return tuple(outs)

    models = casc.models()
    scored = [bool(scores and m.scores) for m in models]
    n = len(casc.stages)
    names_in = [io_names(i)[0] for i in range(n)]
    names_out = [name for i in range(n) for name in [io_names(i)[1]] + ([scores_name(i)] if scored[i] else [])]
    example = tuple(torch.rand(2, s.in_channels, s.input_size, s.input_size) for s in casc.stages)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(Stages(models, scored).eval(), example, buf, dynamo=False, opset_version=opset,
                          input_names=names_in, output_names=names_out,
                          dynamic_axes={name: {0: "batch"} for name in names_in + names_out})
    model = onnx.load_from_string(buf.getvalue())
    meta = dict(casc.meta)
    if preset:
        meta["preset"] = preset
    props = metadata_props(casc.stages, meta, weights_sha256, scored)
    if not any(scored):  # no scores output: the file is what version 1 readers read
        props["facealign_format_version"] = "1"
        del props["scores"]
    for key, value in props.items():
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
