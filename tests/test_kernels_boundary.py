"""Bad arguments to the cython backend raise TypeError/ValueError naming the argument.

One test per kind of mistake: wrong shapes, wrong or mixed dtypes, non-contiguous
and Fortran-order arrays, read-only or overlapping outputs, unknown names, bad
labels, and the Network boundary (data, batch ranges, life-cycle order).
"""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.backend.base import LossSpec, StageSpec
from tests.kernels_support import CY
from tests.spec_support import dense_stage, sgd_spec

F = np.float32
MSE = LossSpec("mean_squared_error")
SCCE = LossSpec("sparse_categorical_crossentropy")


def _dense(dtype=F, rows=4, n_in=3, units=2):
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(rows, n_in)).astype(dtype),
        "kernel": rng.normal(size=(n_in, units)).astype(dtype),
        "bias": np.zeros(units, dtype),
        "z_out": np.empty((rows, units), dtype),
        "a_out": np.empty((rows, units), dtype),
    }


def _forward(**override):
    args = _dense()
    args.update(override)
    CY.dense_forward(
        args["x"], args["kernel"], args["bias"], args.get("activation", "relu"), args["z_out"], args["a_out"]
    )


def _backward(**override):
    rows, n_in, units = 4, 3, 2
    args = {
        "x": np.ones((rows, n_in), F),
        "kernel": np.ones((n_in, units), F),
        "z": np.ones((rows, units), F),
        "a": np.ones((rows, units), F),
        "grad_a": np.ones((rows, units), F),
        "activation": "tanh",
        "grad_z_out": np.empty((rows, units), F),
        "grad_kernel_out": np.empty((n_in, units), F),
        "grad_bias_out": np.empty(units, F),
        "grad_x_out": np.empty((rows, n_in), F),
    }
    args.update(override)
    CY.dense_backward(**args)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x", np.ones((4,), F)),
        ("x", np.ones((4, 3, 1), F)),
        ("kernel", np.ones((5, 2), F)),
        ("kernel", np.ones((3,), F)),
        ("bias", np.ones(3, F)),
        ("z_out", np.empty((4, 3), F)),
        ("a_out", np.empty((5, 2), F)),
    ],
)
def test_dense_forward_wrong_shape(name, value):
    with pytest.raises(ValueError, match=name):
        _forward(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("z", np.ones((4, 3), F)),
        ("grad_a", np.ones((3, 2), F)),
        ("grad_kernel_out", np.empty((2, 3), F)),
        ("grad_bias_out", np.empty(3, F)),
        ("grad_x_out", np.empty((4, 2), F)),
        ("kernel", np.ones((2, 2), F)),
    ],
)
def test_dense_backward_wrong_shape(name, value):
    with pytest.raises(ValueError, match=name):
        _backward(**{name: value})


@pytest.mark.parametrize("name", ["x", "kernel", "bias", "z_out", "a_out"])
def test_wrong_dtype(name):
    value = np.zeros(_dense()[name].shape, np.int32 if name == "x" else np.float16)
    with pytest.raises(TypeError, match=name):
        _forward(**{name: value})


@pytest.mark.parametrize("name", ["kernel", "bias", "z_out", "a_out"])
def test_mixed_dtypes(name):
    value = _dense()[name].astype(np.float64)
    with pytest.raises(TypeError, match=name):
        _forward(**{name: value})


@pytest.mark.parametrize("name", ["x", "kernel", "z_out"])
def test_non_contiguous(name):
    base = _dense()[name]
    strided = np.repeat(base, 2, axis=1)[:, ::2]
    assert strided.shape == base.shape and not strided.flags.c_contiguous
    with pytest.raises(ValueError, match=f"{name}.*C-contiguous"):
        _forward(**{name: strided})


@pytest.mark.parametrize("name", ["x", "kernel", "a_out"])
def test_fortran_order(name):
    value = np.asfortranarray(_dense()[name])
    with pytest.raises(ValueError, match=f"{name}.*C-contiguous"):
        _forward(**{name: value})


@pytest.mark.parametrize("name", ["z_out", "a_out"])
def test_read_only_output(name):
    value = _dense()[name]
    value.flags.writeable = False
    with pytest.raises(ValueError, match=f"{name}.*writeable"):
        _forward(**{name: value})


def test_read_only_inputs_are_fine():
    args = _dense()
    for name in ("x", "kernel", "bias"):
        args[name].flags.writeable = False
    CY.dense_forward(args["x"], args["kernel"], args["bias"], "relu", args["z_out"], args["a_out"])


def test_not_an_array():
    with pytest.raises(TypeError, match="x"):
        _forward(x=[[1.0, 2.0, 3.0]] * 4)
    with pytest.raises(TypeError, match="kernel"):
        _forward(kernel=None)


def test_output_overlapping_an_input():
    args = _dense(rows=3, n_in=2, units=2)
    with pytest.raises(ValueError, match="z_out.*x"):
        CY.dense_forward(args["x"], args["kernel"], None, "relu", args["x"], args["a_out"])
    z = np.ones((4, 2), F)
    with pytest.raises(ValueError, match="grad_z_out.*z"):
        _backward(z=z, grad_z_out=z)


def test_activation_out_may_be_its_input_but_not_overlap_partly():
    z = np.ones((4, 4), F)
    CY.activation_forward("tanh", z, z)
    buffer = np.ones(12, F)
    with pytest.raises(ValueError, match="out.*z"):
        CY.activation_forward("tanh", buffer[:8].reshape(2, 4), buffer[4:].reshape(2, 4))


@pytest.mark.parametrize("call", ["forward", "activation", "backward", "output_gradient"])
def test_unknown_activation(call):
    z = np.ones((2, 3), F)
    with pytest.raises(ValueError, match="activation.*swish"):
        if call == "forward":
            _forward(activation="swish")
        elif call == "activation":
            CY.activation_forward("swish", z, z.copy())
        elif call == "backward":
            _backward(activation="swish")
        else:
            CY.output_gradient(MSE, "swish", z, z, z, z.copy())


def test_unknown_loss_and_metric():
    y = np.ones((2, 3), F)
    with pytest.raises(ValueError, match="loss.*focal_crossentropy"):
        CY.loss_value(LossSpec("focal_crossentropy"), y, y)
    with pytest.raises(TypeError, match="loss"):
        CY.loss_value("mean_squared_error", y, y)
    with pytest.raises(ValueError, match="metric.*auc"):
        CY.metric_value("auc", y, y)


def test_loss_shapes_and_labels():
    p = np.full((3, 4), 0.25, F)
    with pytest.raises(ValueError, match="y_true"):
        CY.loss_value(MSE, np.ones((3, 5), F), p)
    with pytest.raises(TypeError, match="y_true"):
        CY.loss_value(MSE, np.ones((3, 4), np.float64), p)
    with pytest.raises(TypeError, match="y_true.*int64"):
        CY.loss_value(SCCE, np.zeros(3, np.int32), p)
    with pytest.raises(ValueError, match="y_true.*\\[0, 4\\)"):
        CY.loss_value(SCCE, np.array([0, 4, 1]), p)
    with pytest.raises(ValueError, match="y_true.*\\[0, 4\\)"):
        CY.metric_value("sparse_categorical_accuracy", np.array([0, -1, 1]), p)
    with pytest.raises(ValueError, match="y_true"):
        CY.loss_value(SCCE, np.zeros(2, np.int64), p)
    with pytest.raises(ValueError, match="y_pred.*at least one row"):
        CY.loss_value(MSE, np.ones((0, 4), F), np.ones((0, 4), F))
    with pytest.raises(ValueError, match="out"):
        CY.loss_gradient(MSE, p, p, np.empty((3, 3), F))


def test_sgd_arguments():
    param = np.ones((2, 3), F)
    with pytest.raises(ValueError, match="grad"):
        CY.sgd_update(param, np.ones((3, 2), F), np.zeros((2, 3), F), 0.1, 0.9, False)
    with pytest.raises(TypeError, match="grad"):
        CY.sgd_update(param, np.ones((2, 3)), np.zeros((2, 3), F), 0.1, 0.9, False)
    with pytest.raises(TypeError, match="velocity"):
        CY.sgd_update(param, np.ones((2, 3), F), None, 0.1, 0.9, False)
    with pytest.raises(TypeError, match="learning_rate"):
        CY.sgd_update(param, np.ones((2, 3), F), None, "0.1", 0.0, False)
    with pytest.raises(ValueError, match="momentum"):
        CY.sgd_update(param, np.ones((2, 3), F), None, 0.1, float("nan"), False)
    frozen = np.ones((2, 3), F)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="param.*writeable"):
        CY.sgd_update(frozen, np.ones((2, 3), F), None, 0.1, 0.0, False)


# ---------------------------------------------------------------------- Network
def _net(dtype=F):
    rng = np.random.default_rng(0)
    stages = [
        dense_stage("relu", rng.normal(size=(3, 5)).astype(dtype), np.zeros(5, dtype)),
        dense_stage("softmax", rng.normal(size=(5, 4)).astype(dtype), np.zeros(4, dtype)),
    ]
    return CY.build_network(stages, 3, dtype)


def test_build_network_checks_stages():
    with pytest.raises(ValueError, match=r"stages\[1\].*in_shape"):
        CY.build_network([dense_stage("relu", np.ones((3, 5), F)), dense_stage("relu", np.ones((4, 2), F))], 3, F)
    with pytest.raises(TypeError, match="dtype"):
        CY.build_network([dense_stage("relu", np.ones((3, 5), F))], 3, np.int32)
    with pytest.raises(ValueError, match="activation"):
        CY.build_network([dense_stage("gelu", np.ones((3, 5), F))], 3, F)
    with pytest.raises(TypeError, match=r"stages\[0\]"):
        CY.build_network([dense_stage("relu", np.ones((3, 5), F)).params], 3, F)


def test_build_network_names_the_stage_with_a_bad_array():
    # the stages chain (in_shape 5 after 5 units) but the second kernel is (4, 2): the error names
    # which stage and which of its arrays
    bad = StageSpec("dense", (5,), (2,), {"activation": "relu"}, (np.ones((4, 2), F),))
    with pytest.raises(ValueError, match=r"stages\[1\].*params\[0\]"):
        CY.build_network([dense_stage("relu", np.ones((3, 5), F)), bad], 3, F)


def test_network_predict_arguments():
    net = _net()
    with pytest.raises(ValueError, match="x"):
        net.predict(np.ones((2, 4), F), 8)
    with pytest.raises(TypeError, match="x"):
        net.predict(np.ones((2, 3)), 8)
    with pytest.raises(ValueError, match="x.*C-contiguous"):
        net.predict(np.asfortranarray(np.ones((2, 3), F)), 8)
    with pytest.raises(ValueError, match="x"):
        net.predict(np.ones((0, 3), F), 8)
    with pytest.raises(ValueError, match="batch_size"):
        net.predict(np.ones((2, 3), F), 0)


def test_network_life_cycle_order():
    net = _net()
    with pytest.raises(RuntimeError, match="prepare_training"):
        net.bind_training_data(np.ones((2, 3), F), np.zeros(2, np.int64), np.arange(2))
    with pytest.raises(RuntimeError, match="prepare_training"):
        net.evaluate(np.ones((2, 3), F), np.zeros(2, np.int64), 2)
    net.prepare_training(SCCE, ["sparse_categorical_accuracy"], sgd_spec(0.1), 4)
    with pytest.raises(RuntimeError, match="bind_training_data"):
        net.train_batch(0, 1)


def test_network_training_arguments():
    net = _net()
    with pytest.raises(ValueError, match="metrics"):
        net.prepare_training(SCCE, ["categorical_accuracy"], sgd_spec(0.1), 4)
    with pytest.raises(ValueError, match="metrics"):
        net.prepare_training(MSE, ["sparse_categorical_accuracy"], sgd_spec(0.1), 4)
    with pytest.raises(TypeError, match="optimizer"):
        net.prepare_training(SCCE, [], object(), 4)
    with pytest.raises(ValueError, match="batch_size"):
        net.prepare_training(SCCE, [], sgd_spec(0.1), -1)
    net.prepare_training(SCCE, ["sparse_categorical_accuracy"], sgd_spec(0.1), 4)
    x, labels = np.ones((6, 3), F), np.zeros(6, np.int64)
    with pytest.raises(ValueError, match="y"):
        net.bind_training_data(x, np.full(6, 4, np.int64), np.arange(6))
    with pytest.raises(ValueError, match="order"):
        net.bind_training_data(x, labels, np.arange(1, 7))
    with pytest.raises(TypeError, match="order"):
        net.bind_training_data(x, labels, np.arange(6, dtype=np.int32))
    net.bind_training_data(x, labels, np.arange(6, dtype=np.int64))
    for start, stop in [(-1, 2), (2, 2), (3, 2), (0, 7), (0, 5)]:
        with pytest.raises(ValueError, match="start, stop"):
            net.train_batch(start, stop)
    assert net.train_batch(4, 6) in (True, False)


def test_network_order_corrupted_after_binding_raises():
    net = _net()
    net.prepare_training(SCCE, [], sgd_spec(0.1), 4)
    order = np.arange(6, dtype=np.int64)
    net.bind_training_data(np.ones((6, 3), F), np.zeros(6, np.int64), order)
    order[1] = 600  # trusted after binding, yet never read out of bounds
    with pytest.raises(ValueError, match="order"):
        net.train_batch(0, 4)


def test_network_optimizer_state_arguments():
    net = _net()
    net.prepare_training(SCCE, [], sgd_spec(0.1, 0.9), 4)  # momentum: one slot per param
    state = net.get_optimizer_state()
    assert [[s.shape for s in slots] for slots in state["slots"]] == [[(3, 5)], [(5,)], [(5, 4)], [(4,)]]
    assert state["iterations"] == 0 and state["scalars"].shape == (0,)
    with pytest.raises(TypeError, match="state"):
        net.set_optimizer_state([s for slots in state["slots"] for s in slots])
    with pytest.raises(ValueError, match="state"):
        net.set_optimizer_state({**state, "slots": state["slots"][:2]})
    with pytest.raises(ValueError, match=r"state\['slots'\]\[1\]"):
        net.set_optimizer_state({**state, "slots": [state["slots"][0], [np.zeros(4)], *state["slots"][2:]]})
    with pytest.raises(ValueError, match="iterations"):
        net.set_optimizer_state({**state, "iterations": -1})
    net.set_optimizer_state({**state, "iterations": 3, "slots": [[s + 1 for s in slots] for slots in state["slots"]]})
    again = net.get_optimizer_state()
    assert again["iterations"] == 3
    assert all((s == 1).all() for slots in again["slots"] for s in slots)
