"""facealign/formats: each weights file type round-trips through its one reader and writer.

A tiny real cascade (ResNet-18 at width 0.25, 64 px, random weights) keeps these fast; the
shipped weights are exercised in test_backends.py and test_export.py.
"""
from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest

from facealign.formats.atomic import atomic_write_bytes, write_json
from facealign.formats.engine_file import read_engine_file, unpack_engine_file, write_engine_file
from facealign.formats.hashing import sha256_bytes, sha256_file
from facealign.formats.onnx_cascade import OnnxCascade, read_onnx, to_onnx, write_onnx
from facealign.formats.onnx_fp16 import to_float16
from facealign.models.cascade import StageSpec

torch = pytest.importorskip("torch", reason='writing cascades needs PyTorch (pip install ".[torch]")')


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(CascadeFile, .pt path) of a one-stage random cascade whose outputs are of magnitude ~1."""
    from facealign.formats.cascade_pt import load_cascade, save_cascade

    spec = StageSpec(model="resnet18", width=0.25, input_size=64)
    torch.manual_seed(0)
    model = spec.build().eval()
    with torch.no_grad():
        model.fc.weight.mul_(20.0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_cascade(path, [spec], [model], meta={"preset": "tiny"}, half=False)
    return load_cascade(path), path


def test_sha256_of_file_and_bytes_agree(tmp_path):
    data = bytes(range(256)) * 5000  # > one 1 MiB block
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == sha256_bytes(data)
    assert sha256_bytes(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_atomic_writes_from_many_threads_leave_one_whole_file(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    blobs = [bytes([i]) * (200_000 + i) for i in range(8)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(target, b)) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in blobs  # one writer's whole file, never a mix
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]  # no temporary file left
    assert target.stat().st_mode & 0o777 == 0o644


def test_write_json_is_atomic_readable_and_ends_with_a_newline(tmp_path):
    target = tmp_path / "new" / "out.json"
    write_json(target, {"a": [1, 2], "b": None})
    assert target.read_text() == '{\n "a": [\n  1,\n  2\n ],\n "b": null\n}\n'
    write_json(target, {"a": 1}, indent=None)
    assert target.read_text() == '{"a": 1}\n' and target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_cascade_pt_round_trip(tiny):
    casc, path = tiny
    from facealign.formats.cascade_pt import load_cascade

    again = load_cascade(path)
    assert again.stages == casc.stages and again.meta == {"preset": "tiny"}
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(again.models()[0](x), casc.models()[0](x))


def test_cascade_pt_bad_files_are_clear_errors(tmp_path):
    from facealign.formats.cascade_pt import atomic_save, load_cascade

    with pytest.raises(FileNotFoundError, match="no such weights file"):
        load_cascade(tmp_path / "absent.pt")
    atomic_save({"something": "else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a facealign cascade or checkpoint"):
        load_cascade(tmp_path / "other.pt")


def test_onnx_round_trip_keeps_specs_and_metadata(tiny, tmp_path):
    casc, path = tiny
    model = to_onnx(casc, weights_sha256=sha256_file(path))
    out = write_onnx(model, tmp_path / "tiny.onnx")
    read = read_onnx(out)
    assert read.stages == casc.stages
    assert read.meta["preset"] == "tiny" and read.meta["weights_sha256"] == sha256_file(path)
    plain = onnx.ModelProto()
    plain.CopyFrom(model)
    del plain.metadata_props[:]
    with pytest.raises(ValueError, match="not a facealign ONNX cascade"):
        write_onnx(plain, tmp_path / "plain.onnx")
    assert not (tmp_path / "plain.onnx").exists()


def test_float16_graph_computes_in_float16_with_float32_io(tiny):
    import onnxruntime as ort

    casc, _ = tiny
    sub = OnnxCascade.from_model(to_onnx(casc)).stage_model(0)
    half = to_float16(sub)
    onnx.checker.check_model(half, full_check=True)
    floats = {i.data_type for i in half.graph.initializer} - {onnx.TensorProto.INT64}
    assert floats == {onnx.TensorProto.FLOAT16}  # every weight is float16
    assert [i.type.tensor_type.elem_type for i in half.graph.input] == [onnx.TensorProto.FLOAT]
    assert [o.type.tensor_type.elem_type for o in half.graph.output] == [onnx.TensorProto.FLOAT]
    assert half.graph.node[0].op_type == "Cast"  # the input, to float16; the fc's output back to float32:
    assert [n.op_type for n in half.graph.node if n.op_type == "Cast"][-1:] == ["Cast"]  # the tail (a reshape)
    x = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    run = {name: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
           for name, m in (("fp32", sub), ("fp16", half))}
    ref, got = (run[k].run(None, {"stage1_input": x})[0] for k in ("fp32", "fp16"))
    assert got.dtype == np.float32 and got.shape == ref.shape == (3, 68, 2)
    assert np.abs(ref).max() > 0.3, "outputs too small for the comparison to mean anything"
    err = np.abs(got - ref).max()
    assert 0 < err < 2e-2  # float16 rounding is there, and small
    assert len(sub.graph.initializer) and sub.graph.initializer[0].data_type == onnx.TensorProto.FLOAT  # copy


def test_float16_refuses_a_graph_with_control_flow():
    """An If node's branches would keep float32 (issue 22: the fast preset's graph had them, and its
    FP16 copy failed onnx.checker and onnxruntime): refused, naming the nodes."""
    from onnx import TensorProto, helper

    def branch(name, value):
        out = helper.make_tensor_value_info(name, TensorProto.FLOAT, [1])
        return helper.make_graph([helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name + "_v", TensorProto.FLOAT, [1], [value]))], name, [], [out])

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Cast", ["s"], ["c"], to=TensorProto.BOOL),
             helper.make_node("If", ["c"], ["b"], then_branch=branch("t", 1.0), else_branch=branch("e", 2.0),
                              name="the_if"),
             helper.make_node("Add", ["x", "b"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    with pytest.raises(ValueError, match=r"flat graphs only.*control flow \(the_if\)"):
        to_float16(model)


def test_float16_keeps_the_decoding_tail_in_float32(tmp_path):
    """A PIP stage: the convolutions in float16, the argmax and everything after it in float32."""
    import onnxruntime as ort

    from facealign.formats.cascade_pt import load_cascade, save_cascade

    spec = StageSpec(model="resnet18", width=0.25, input_size=64, head="pip", head_args={"stride": 16, "neighbours": 4})
    torch.manual_seed(0)
    save_cascade(tmp_path / "pip.pt", [spec], [spec.build().eval()], half=False)
    half = to_float16(OnnxCascade.from_model(to_onnx(load_cascade(tmp_path / "pip.pt"))).stage_model(0))
    onnx.checker.check_model(half, full_check=True)
    typed = onnx.shape_inference.infer_shapes(half).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*typed.input, *typed.value_info, *typed.output]}
    ops = {n.op_type: n for n in typed.node}
    assert types[ops["Conv"].output[0]] == onnx.TensorProto.FLOAT16
    assert types[ops["ArgMax"].input[0]] == onnx.TensorProto.FLOAT
    types.update({i.name: i.data_type for i in typed.initializer})  # the products' weights
    matmuls = [n for n in typed.node if n.op_type == "MatMul"]  # the decode's products at the cells
    assert matmuls and all(types[i] == onnx.TensorProto.FLOAT for n in matmuls for i in n.input)
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    got = ort.InferenceSession(half.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"stage1_input": x})
    assert got[0].dtype == np.float32 and got[0].shape == (2, 68, 2)
    # the point scores too: from the float16 maps cast back, the estimates' spread and its exp in float32
    assert [o.name for o in half.graph.output] == ["stage1_output", "stage1_scores"]
    assert types[ops["Exp"].input[0]] == onnx.TensorProto.FLOAT and types[ops["Sqrt"].input[0]] == onnx.TensorProto.FLOAT
    assert got[1].dtype == np.float32 and got[1].shape == (2, 68) and 0 <= got[1].min() and got[1].max() <= 1


def test_onnx_format_version_says_whether_stages_have_scores(tiny, tmp_path):
    """A cascade whose heads score their points is written as format 2, with a stage{i}_scores output
    and the "scores" metadata; one without scores is a plain version 1 file (older readers take it);
    a version newer than the reader is refused, saying to upgrade."""
    from facealign.formats.cascade_pt import load_cascade, save_cascade

    casc, _ = tiny
    plain = to_onnx(casc)
    props = {p.key: p.value for p in plain.metadata_props}
    assert props["facealign_format_version"] == "1" and "scores" not in props
    assert OnnxCascade.from_model(plain).score_outputs == [None]
    spec = StageSpec(model="resnet18", width=0.25, input_size=64, head="pip", head_args={"stride": 32, "neighbours": 4})
    torch.manual_seed(0)
    save_cascade(tmp_path / "pip.pt", [spec, spec], [spec.build().eval(), spec.build().eval()], half=False)
    scored = to_onnx(load_cascade(tmp_path / "pip.pt"))
    props = {p.key: p.value for p in scored.metadata_props}
    assert props["facealign_format_version"] == "2" and props["scores"] == '["stage1_scores", "stage2_scores"]'
    assert [o.name for o in scored.graph.output] == ["stage1_output", "stage1_scores", "stage2_output", "stage2_scores"]
    read = read_onnx(write_onnx(scored, tmp_path / "pip.onnx"))
    assert read.score_outputs == ["stage1_scores", "stage2_scores"]
    assert read.stage_outputs(1) == ["stage2_output", "stage2_scores"]
    for entry in scored.metadata_props:
        if entry.key == "facealign_format_version":
            entry.value = "3"
    with pytest.raises(ValueError, match="format version 3 is newer than this reader .2.; upgrade facealign"):
        OnnxCascade.from_model(scored)


def test_tensorrt_runners_bind_the_scores_output_where_the_engine_has_one():
    """Read here, run on a GPU (test_backends): which outputs an engine runner binds, and the scores
    names an engine file's header gives (a version 1 header has none)."""
    from facealign.backends.tensorrt_backend import bound_outputs, header_scores

    names = ["stage2_input", "stage2_output", "stage2_scores"]
    assert bound_outputs(names, "stage2_input", "stage2_output", "stage2_scores") == ["stage2_output", "stage2_scores"]
    assert bound_outputs(names[:2], "stage2_input", "stage2_output") == ["stage2_output"]
    with pytest.raises(ValueError, match=r"engine has tensors .*expected \['stage2_input', 'stage2_output'\]; rebuild"):
        bound_outputs(names, "stage2_input", "stage2_output")  # an unbound output would fail at execution
    with pytest.raises(ValueError, match="expected .*'stage2_scores'"):
        bound_outputs(names[:2], "stage2_input", "stage2_output", "stage2_scores")
    assert header_scores({"inputs": ["stage1_input", "stage2_input"]}) == [None, None]
    assert header_scores({"inputs": ["a", "b"], "scores": ["stage1_scores", None]}) == ["stage1_scores", None]


def test_engine_container_round_trip(tmp_path):
    header = {"stages": [{"input_size": 128}], "meta": {"preset": "x"}, "inputs": ["stage1_input"],
              "outputs": ["stage1_output"], "tensorrt": "10.0", "gpu": "test"}
    engines = [b"\x01engine-one" * 7, b"\x02two" * 3]
    write_engine_file(tmp_path / "m.engine", header, engines)
    read_header, read_engines = read_engine_file(tmp_path / "m.engine")
    assert read_engines == engines and read_header["version"] == 2
    assert read_header["meta"] == {"preset": "x"} and read_header["engine_sizes"] == [77, 12]
    data = (tmp_path / "m.engine").read_bytes()
    with pytest.raises(ValueError, match="truncated"):
        unpack_engine_file(data[:-5])
    with pytest.raises(ValueError, match="truncated"):
        unpack_engine_file(data + b"x")
    with pytest.raises(ValueError, match="not a facealign engine file"):
        unpack_engine_file(b"\x00" * 64)
    with pytest.raises(ValueError, match="damaged engine header"):
        unpack_engine_file(data[:12] + b"}" + data[13:])
    with pytest.raises(FileNotFoundError, match="no such engine file"):
        read_engine_file(tmp_path / "absent.engine")
