"""ONNX export (``model.export(path, format="onnx")``): every stage kind and layer class, run in onnxruntime.

Driven by the registries: every stage example of ``tests/stages_support.EXAMPLES`` and every layer
example of ``tests/test_layers_frontend.LAYER_EXAMPLES`` is exported, checked with ``onnx.checker``
and run in onnxruntime at batch sizes 1 and 7 (the batch dimension is dynamic); the outputs must
equal cyneuron's ``predict`` to 1e-5 relative in float32 (1e-12 in float64), with the stage parity
tests' absolute floor (1e-6, 1e-13) for outputs near zero. Float64 graphs with a convolution, average
pooling or Erf run in onnx's reference evaluator (onnxruntime's CPU provider has no float64 kernels
for those). Plus the errors:
unbuilt model, unknown and unavailable formats, bad paths (atomic: a failed export leaves the old
file and no temporary), a missing ``onnx`` package, and missing converters.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyneuron
from cyneuron import backend
from cyneuron.backend import reference, specs
from cyneuron.backend.specs import ACTIVATIONS as SPEC_ACTIVATIONS
from cyneuron.backend.specs import StageSpec
from cyneuron.export import onnx as onnx_export
from cyneuron.export._onnx_activations import ACTIVATIONS as ACTIVATION_TABLE
from cyneuron.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from cyneuron.models import Sequential
from cyneuron.utils import set_random_seed
from tests.stages_support import all_stacks, conv, input_data, pool
from tests.test_layers_frontend import LAYER_EXAMPLES, _example_data, _model

try:
    import onnx
    import onnxruntime as ort
except ImportError:  # the error tests still run: they check what happens without onnx
    onnx = ort = None

needs_onnx = pytest.mark.skipif(
    ort is None, reason="needs the onnx and onnxruntime packages (pip install 'cyneuron[test]')"
)

# as tests/test_stages_parity.py: the absolute part covers outputs that are a cancellation (a sum of terms
# of size 1 that comes out near 0 carries their rounding, ~1e-7, whatever computes it)
TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-13)}
BATCHES = (1, 7)


class _ReferenceSession:
    """onnx's own reference evaluator with onnxruntime's ``run`` / ``get_inputs`` calls."""

    def __init__(self, model_bytes: bytes) -> None:
        from onnx.reference import ReferenceEvaluator

        proto = onnx.load_from_string(model_bytes)
        self._evaluator = ReferenceEvaluator(proto)
        self._inputs = [types.SimpleNamespace(name=i.name) for i in proto.graph.input]
        # the evaluator rounds Erf (gelu) to float32 whatever the input's dtype
        self.float32_ops = {node.op_type for node in proto.graph.node} & {"Erf"}

    def get_inputs(self):
        return self._inputs

    def run(self, outputs, feed):
        return self._evaluator.run(outputs, feed)


def _session(model_bytes: bytes, dtype: str = "float32"):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as error:
        # onnxruntime's CPU provider has no float64 Conv / AveragePool: onnx's reference evaluator runs those
        if dtype == "float64" and "NOT_IMPLEMENTED" in str(error):
            return _ReferenceSession(model_bytes)
        raise


def _run(session, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _tolerance(session, dtype: str) -> dict:
    return TOLERANCE["float32" if getattr(session, "float32_ops", None) else dtype]


def test_every_stage_kind_has_a_converter():
    assert set(onnx_export.CONVERTERS) == set(reference.KINDS)


def test_every_activation_has_a_converter():
    """Every activation name of the specs and of every stage example (dense, conv2d, activation and
    recurrent stages) has an entry in the activation table."""
    used = {
        stage.attrs[key]
        for _, _, _, stages in all_stacks("float32")
        for stage in stages
        for key in ("activation", "recurrent_activation")
        if key in stage.attrs
    }
    assert set(SPEC_ACTIVATIONS) | used <= set(ACTIVATION_TABLE)


# ----------------------------------------------------------------------------- every stage example
STACKS = {dtype: all_stacks(dtype) for dtype in ("float32", "float64")}


def _check_stack(dtype, kind, index, shape, stages):
    proto = onnx_export.stages_to_onnx(stages, tuple(shape), dtype)
    onnx.checker.check_model(proto, full_check=True)
    first = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert first.dim_param == "batch"
    session = _session(proto.SerializeToString(), dtype)
    network = backend.ops().build_network(stages, tuple(shape), np.dtype(dtype))
    rng = np.random.default_rng(100 + index)
    for n in BATCHES:
        x = input_data(rng, shape, stages, n, np.dtype(dtype))
        expected = network.predict(x, 32)
        got = _run(session, x.reshape(n, *shape))
        assert got.dtype == np.dtype(dtype)
        tolerance = _tolerance(session, dtype)
        np.testing.assert_allclose(got.reshape(n, -1), expected, **tolerance, err_msg=f"{kind}[{index}] n={n}")


@needs_onnx
@pytest.mark.parametrize(
    "kind,index,shape,stages", STACKS["float32"], ids=[f"{k}-{i}" for k, i, _, _ in STACKS["float32"]]
)
def test_stage_examples_match_predict_float32(kind, index, shape, stages):
    _check_stack("float32", kind, index, shape, stages)


@needs_onnx
@pytest.mark.parametrize(
    "kind,index,shape,stages", STACKS["float64"], ids=[f"{k}-{i}" for k, i, _, _ in STACKS["float64"]]
)
def test_stage_examples_match_predict_float64(kind, index, shape, stages):
    _check_stack("float64", kind, index, shape, stages)


RECURRENT = [s for s in STACKS["float32"] if s[0] in ("simple_rnn", "lstm", "gru", "embedding")]


@needs_onnx
@pytest.mark.parametrize("kind,index,shape,stages", RECURRENT, ids=[f"{k}-{i}" for k, i, _, _ in RECURRENT])
def test_unrolled_recurrence_matches_predict(kind, index, shape, stages, monkeypatch):
    """The step-by-step fallback (softmax activations, float64) on every recurrent example in float32."""
    monkeypatch.setattr(onnx_export, "_RNN_ACTIVATIONS", {})
    _check_stack("float32", kind, index, shape, stages)


@st.composite
def _window_stacks(draw):
    """A conv2d, max_pool2d or avg_pool2d stage of random geometry (Keras' padding arithmetic) on its own."""
    kind = draw(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d"]))
    padding = draw(st.sampled_from(["valid", "same", "causal"] if kind == "conv2d" else ["valid", "same"]))
    h = 1 if padding == "causal" else draw(st.integers(1, 7))
    w = draw(st.integers(1, 7))
    k = (1 if padding == "causal" else draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (1, 1) if kind != "conv2d" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    c = draw(st.integers(1, 3))
    extent = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    if padding == "valid" and (h < extent[0] or w < extent[1]) or (padding == "causal" and w + extent[1] - 1 < 1):
        padding = "same"
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "conv2d":
        return (h, w, c), [conv(rng, np.float32, (h, w, c), 2, k, s, padding, d, activation="linear")]
    return (h, w, c), [pool(kind, (h, w, c), k, s, padding)]


@needs_onnx
@given(_window_stacks())
def test_window_geometry_matches_predict(stack):
    shape, stages = stack
    _check_stack("float32", stages[0].kind, 0, (int(np.prod(shape)),), stages)


# Keras' relu with arguments: the "relu_ext" stage today; "relu" with its arguments where the specs list
# activation arguments (ACTIVATION_PARAMS); the table converts both
RELU_WITH_ARGUMENTS = "relu" if "relu" in getattr(specs, "ACTIVATION_PARAMS", {}) else "relu_ext"


@st.composite
def _activation_stacks(draw):
    """An extended activation with random attributes (the layers' domain: ReLU's and LeakyReLU's are >= 0),
    the input on a grid that hits the thresholds exactly."""
    name = draw(st.sampled_from([RELU_WITH_ARGUMENTS, "leaky_relu", "elu"]))
    grid = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])
    if name == RELU_WITH_ARGUMENTS:
        attrs = {"negative_slope": draw(grid), "threshold": draw(grid), "max_value": draw(st.none() | grid)}
    elif name == "leaky_relu":
        attrs = {"negative_slope": draw(grid)}
    else:
        attrs = {"alpha": draw(st.sampled_from([-1.5, -0.5, 0.0, 0.5, 1.0, 2.0]))}
    return StageSpec("activation", (9,), (9,), {"activation": name, **attrs})


@needs_onnx
@given(_activation_stacks())
def test_extended_activations_match_predict(stage):
    session = _session(onnx_export.stages_to_onnx([stage], (9,), "float32").SerializeToString())
    network = backend.ops().build_network([stage], (9,), np.dtype("float32"))
    x = np.array([[-2.0, -1.5, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0], np.linspace(-3, 3, 9)], np.float32)
    np.testing.assert_allclose(_run(session, x), network.predict(x, 32), **TOLERANCE["float32"])


# ----------------------------------------------------------------------------- every layer class
def _trained(model: Sequential, x, y) -> Sequential:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)  # moving statistics and weights away from their init
    return model


def _compare_model(model: Sequential, x: np.ndarray, path, dtype="float32", **export_kwargs):
    model.export(path, format="onnx", verbose=False, **export_kwargs)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    session = _session(proto.SerializeToString(), dtype)
    assert session.get_inputs()[0].shape[0] == "batch"
    for n in BATCHES:
        batch = x[:n]
        if batch.dtype.kind in "iub":
            batch = batch.astype(np.int64)  # the exported graph takes int64 indices
        got = _run(session, np.ascontiguousarray(batch))
        np.testing.assert_allclose(got, model.predict(x[:n]), **_tolerance(session, dtype))
    return proto


@needs_onnx
@pytest.mark.parametrize("name", sorted(LAYER_EXAMPLES))
def test_layer_examples_match_predict(name, tmp_path):
    set_random_seed(2)
    x, y = _example_data(name)
    model = _trained(_model(name), x, y)
    _compare_model(model, x, tmp_path / "m.onnx")


def _cnn(data_format="channels_last") -> Sequential:
    shape = (2, 8, 8) if data_format == "channels_first" else (8, 8, 2)
    return Sequential(
        [
            Input(shape),
            Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
            BatchNormalization(axis=1 if data_format == "channels_first" else -1),
            MaxPooling2D(2, data_format=data_format),
            Conv2D(3, (2, 3), strides=(1, 2), activation="tanh", data_format=data_format),
            Dropout(0.3),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )


@needs_onnx
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cnn_matches_predict(data_format, tmp_path):
    set_random_seed(3)
    model = _cnn(data_format)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, *model.input_shape[1:])).astype("float32")
    _trained(model, x, rng.integers(0, 5, 16))
    proto = _compare_model(model, x, tmp_path / "cnn.onnx")
    if data_format == "channels_first":  # its transposes are only relabellings: ONNX is NCHW already
        assert "Transpose" not in [node.op_type for node in proto.graph.node]


@needs_onnx
def test_global_pool_and_opsets(tmp_path):
    set_random_seed(4)
    model = Sequential([Input((4, 4, 3)), Conv2D(2, 3, padding="same"), GlobalAveragePooling2D(), Dense(2)])
    x = np.random.default_rng(1).standard_normal((8, 4, 4, 3)).astype("float32")
    for opset in (13, 17, 18):  # ReduceMean's axes moved from an attribute to an input in opset 18
        proto = _compare_model(model, x, tmp_path / f"m{opset}.onnx", opset_version=opset)
        assert proto.opset_import[0].version == opset


@needs_onnx
def test_recurrent_model_matches_predict(tmp_path):
    set_random_seed(5)
    model = Sequential([Input((6, 3)), LSTM(5, return_sequences=True, go_backwards=True), GRU(4), Dense(2)])
    x = np.random.default_rng(2).standard_normal((9, 6, 3)).astype("float32")
    _compare_model(model, x, tmp_path / "rnn.onnx")


@needs_onnx
def test_float64_model(tmp_path):
    previous = cyneuron.config.floatx()
    cyneuron.config.set_floatx("float64")
    try:
        set_random_seed(6)
        model = Sequential([Input((5,)), Dense(7, activation="tanh"), BatchNormalization(), Dense(3, "softmax")])
        x = np.random.default_rng(3).standard_normal((8, 5))
        proto = _compare_model(model, x, tmp_path / "f64.onnx", dtype="float64")
        assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    finally:
        cyneuron.config.set_floatx(previous)


@needs_onnx
def test_input_signature_names_the_input(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    spec = types.SimpleNamespace(shape=(None, 3), name="features", dtype="float32")
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False, input_signature=[spec])
    assert [i.name for i in onnx.load(tmp_path / "m.onnx").graph.input] == ["features"]
    with pytest.raises(ValueError, match="input_signature"):
        model.export(tmp_path / "m.onnx", format="onnx", input_signature=[types.SimpleNamespace(shape=(None, 4))])


@needs_onnx
def test_verbose_prints_the_path(tmp_path, capsys):
    model = Sequential([Input((3,)), Dense(2)])
    model.export(tmp_path / "m.onnx", format="onnx")
    assert "Saved artifact at" in capsys.readouterr().out


def test_export_signature_is_keras():
    import inspect

    params = inspect.signature(Sequential.export).parameters
    # keras.Model.export in Keras 3.15
    assert [(p.name, p.default) for p in params.values()][1:4] == [
        ("filepath", inspect.Parameter.empty),
        ("format", "tf_saved_model"),
        ("verbose", None),
    ]
    assert params["input_signature"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


# ----------------------------------------------------------------------------- errors
def test_unbuilt_model_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="never been built"):
        Sequential([Dense(2)]).export(tmp_path / "m.onnx", format="onnx")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("format", ["onnxx", "ONNX", "h5", 3])
def test_unknown_format_is_a_value_error(format, tmp_path):
    with pytest.raises(ValueError, match="Unrecognized format"):
        Sequential([Input((3,)), Dense(2)]).export(tmp_path / "m", format=format)


@pytest.mark.parametrize("format", ["tf_saved_model", "openvino", "litert", "torch"])
def test_other_keras_formats_are_not_available(format, tmp_path):
    with pytest.raises(ValueError, match="not available in cyneuron"):
        Sequential([Input((3,)), Dense(2)]).export(tmp_path / "m", format=format)
    assert not os.listdir(tmp_path)


@needs_onnx
def test_bad_arguments(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.export(tmp_path / "m.onnx", format="onnx", is_static=True)
    with pytest.raises(ValueError, match="opset_version"):
        model.export(tmp_path / "m.onnx", format="onnx", opset_version=7)
    with pytest.raises(TypeError, match="opset_version"):
        model.export(tmp_path / "m.onnx", format="onnx", opset_version="17")
    with pytest.raises(TypeError, match="filepath"):
        model.export(3, format="onnx")
    assert not os.listdir(tmp_path)


@needs_onnx
def test_unwritable_paths_fail_cleanly(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.export(tmp_path / "missing" / "m.onnx", format="onnx", verbose=False)
    with pytest.raises(IsADirectoryError):
        model.export(tmp_path, format="onnx", verbose=False)
    with pytest.raises(ValueError, match="null byte"):
        model.export(str(tmp_path / "m\0.onnx"), format="onnx", verbose=False)
    assert not os.listdir(tmp_path)


@needs_onnx
def test_failed_export_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    monkeypatch.delitem(onnx_export.CONVERTERS, "dense")
    with pytest.raises(NotImplementedError, match="'dense' has no ONNX converter"):
        Sequential([Input((3,)), Dense(2)]).export(target, format="onnx", verbose=False)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary left behind


@needs_onnx
def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    from cyneuron import saving

    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(saving.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        Sequential([Input((3,)), Dense(2)]).export(target, format="onnx", verbose=False)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.onnx"]


@needs_onnx
def test_too_large_for_protobuf_is_refused_before_building(monkeypatch):
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 99)  # the kernel takes 100
    stage = StageSpec("dense", (5,), (5,), {"activation": "linear"}, (np.zeros((5, 5), np.float32),))
    with pytest.raises(ValueError, match="2 GiB"):
        onnx_export.stages_to_onnx([stage], (5,), "float32")


@needs_onnx
def test_model_predict_refuses_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no layers"):
        Sequential([Input((3,))]).export(tmp_path / "m.onnx", format="onnx")
    assert not os.listdir(tmp_path)


@needs_onnx
def test_unknown_activation_is_not_implemented():
    stage = StageSpec("activation", (3,), (3,), {"activation": "swishy"})
    with pytest.raises(NotImplementedError, match="'swishy'"):
        onnx_export.stages_to_onnx([stage], (3,), "float32")


def test_missing_onnx_is_an_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'cyneuron\[onnx\]'"):
        Sequential([Input((3,)), Dense(2)]).export(tmp_path / "m.onnx", format="onnx")
    assert not os.listdir(tmp_path)
