"""Sample and class weights (Keras 3's semantics), from the loss kernels to ``fit``.

The weighted loss of a batch is ``sum_i w_i * loss_i / rows`` (``sum_over_batch_size``: zero
weights still count in the divisor) and its gradient; ``stats[0]`` sums ``w_i * loss_i`` while
the compiled metrics stay unweighted. The Keras parity itself: ``bench/oracle/weights_vs_keras.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron import layers
from cyneuron.backend.base import LossSpec
from tests.kernels_support import CY, DTYPES, REF, close, predictions_for, targets_for
from tests.spec_support import sgd_spec
from tests.test_network_parity import CASES, _case_id, _data, _params, _slots, _stages

HEADS = [
    ("mean_squared_error", False, "linear"),
    ("mean_squared_error", False, "tanh"),
    ("mean_absolute_error", False, "sigmoid"),
    ("binary_crossentropy", False, "sigmoid"),
    ("binary_crossentropy", True, "linear"),
    ("binary_crossentropy", False, "softmax"),
    ("categorical_crossentropy", False, "softmax"),
    ("categorical_crossentropy", True, "linear"),
    ("categorical_crossentropy", False, "sigmoid"),
    ("sparse_categorical_crossentropy", False, "softmax"),
    ("sparse_categorical_crossentropy", True, "linear"),
]


def _weights(rng, n, dtype):
    w = rng.uniform(0.0, 2.0, n).astype(dtype)
    w[::5] = 0.0
    return w


def _activate(ops, activation, z):
    a = np.empty_like(z)
    ops.activation_forward(activation, z, a)
    return a


# ------------------------------------------------------------------ kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, from_logits, activation", HEADS)
def test_weighted_output_gradient_compiled_matches_reference(loss, from_logits, activation, dtype):
    rng = np.random.default_rng(3)
    rows, units = 9, 4
    spec = LossSpec(loss, from_logits)
    z = rng.normal(size=(rows, units)).astype(dtype)
    y = targets_for(loss, rng, rows, units, dtype)
    w = _weights(rng, rows, dtype)
    results = {}
    for ops in (REF, CY):
        a = _activate(ops, activation, z)
        out = np.empty_like(z)
        value = ops.output_gradient(spec, activation, y, z, a, out, w)
        results[ops.name] = (value, out, ops.loss_value(spec, y, z if from_logits else a, w))
    (v_ref, g_ref, l_ref), (v_cy, g_cy, l_cy) = results["numpy"], results["cython"]
    close(g_cy, g_ref, dtype, float(np.abs(g_ref).max()) + 1e-3, 4.0)
    close(v_cy, v_ref, dtype, abs(v_ref) + 1.0, 4.0)
    close(l_cy, l_ref, dtype, abs(l_ref) + 1.0, 4.0)


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
@pytest.mark.parametrize("loss, from_logits, activation", HEADS)
def test_weighted_output_gradient_matches_finite_differences(ops, loss, from_logits, activation):
    rng = np.random.default_rng(5)
    rows, units = 6, 3
    spec = LossSpec(loss, from_logits)
    z = rng.normal(size=(rows, units))
    y = targets_for(loss, rng, rows, units, np.float64)
    if loss == "mean_absolute_error":
        y = y + 0.5  # away from the kink
    w = _weights(rng, rows, np.float64)

    def value(zz):
        return ops.loss_value(spec, y, zz if from_logits else _activate(ops, activation, zz), w)

    grad = np.empty_like(z)
    reported = ops.output_gradient(spec, activation, y, z, _activate(ops, activation, z), grad, w)
    assert reported == pytest.approx(value(z), rel=1e-12, abs=1e-12)
    numeric = np.empty_like(z)
    h = 1e-6
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (value(up) - value(down)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.all(grad[w == 0] == 0)  # a zero-weight row contributes nothing


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_loss_is_keras_sum_over_batch_size(ops, dtype):
    rng = np.random.default_rng(2)
    spec = LossSpec("categorical_crossentropy")
    p = predictions_for("categorical_crossentropy", False, rng, 8, 3, dtype)
    y = targets_for("categorical_crossentropy", rng, 8, 3, dtype)
    per_sample = [ops.loss_value(spec, y[i : i + 1], p[i : i + 1]) for i in range(8)]
    w = _weights(rng, 8, dtype)
    expected = float(np.sum(w.astype(np.float64) * per_sample) / 8)  # divided by the batch, not by sum(w)
    assert ops.loss_value(spec, y, p, w) == pytest.approx(expected, rel=1e-6)
    assert ops.loss_value(spec, y, p, np.ones(8, dtype)) == ops.loss_value(spec, y, p)


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
def test_kernel_weights_are_checked(ops):
    spec = LossSpec("mean_squared_error")
    y = np.zeros((4, 2))
    p = np.ones((4, 2))
    for bad, error in (
        (np.ones(3), ValueError),
        (np.ones(4, np.float32), TypeError),
        (-np.ones(4), ValueError),
        (np.full(4, np.nan), ValueError),
        ([1.0] * 4, TypeError),
    ):
        with pytest.raises(error, match="sample_weight"):
            ops.loss_value(spec, y, p, bad)


# ------------------------------------------------------------------ networks
def _run(ops, case, dtype, weights, n=37, batch_size=8, epochs=3, arrays=False):
    name, loss, metrics, sgd = case
    stages, input_dim = _stages(name, dtype)
    x, y = _data(name, loss, dtype, n)
    net = ops.build_network(stages, input_dim, dtype)
    net.prepare_training(loss, metrics, sgd_spec(*sgd), batch_size)
    order = np.arange(n, dtype=np.int64)
    if not arrays:
        net.bind_training_data(x, y, order, weights)
    shuffler = np.random.default_rng(7)
    flags, stats = [], []
    for _ in range(epochs):
        shuffler.shuffle(order)
        net.reset_stats()
        for start in range(0, n, batch_size):
            if arrays:
                rows = order[start : start + batch_size]
                flags.append(net.train_arrays(x[rows], y[rows], None if weights is None else weights[rows]))
            else:
                flags.append(net.train_batch(start, min(start + batch_size, n)))
        stats.append(net.stats.copy())
    return {
        "stats": np.array(stats),
        "evaluate": net.evaluate(x, y, 6, weights),
        "weights": [p.copy() for p in _params(stages)],
        "slots": _slots(net.get_optimizer_state()),
        "flags": flags,
    }


@pytest.mark.parametrize("arrays", [False, True], ids=["bound", "arrays"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_weighted_network_matches_reference(case, dtype, arrays):
    weights = _weights(np.random.default_rng(11), 37, dtype)
    cy, ref = _run(CY, case, dtype, weights, arrays=arrays), _run(REF, case, dtype, weights, arrays=arrays)
    assert cy["flags"] == ref["flags"] and all(ref["flags"])
    steps = 20.0 if dtype == np.float32 else 100.0
    for got, want in zip(cy["weights"] + cy["slots"], ref["weights"] + ref["slots"]):
        close(got, want, dtype, 1.0, steps)
    close(cy["stats"], ref["stats"], dtype, float(np.abs(ref["stats"]).max()) + 1.0, steps)
    close(cy["evaluate"], ref["evaluate"], dtype, float(np.abs(ref["evaluate"]).max()) + 1.0, steps)
    # the weights change the training (not silently ignored)
    plain = _run(CY, case, dtype, None, arrays=arrays)
    assert any(not np.allclose(a, b) for a, b in zip(plain["weights"], cy["weights"]))


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
def test_unit_weights_are_exactly_unweighted_and_rebinding_drops_weights(ops):
    case = CASES[1]
    dtype = np.float64
    ones = _run(ops, case, dtype, np.ones(37, dtype))
    plain = _run(ops, case, dtype, None)
    for a, b in zip(ones["weights"], plain["weights"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ones["stats"], plain["stats"])
    # bind with weights, then without: the second binding is unweighted
    name, loss, metrics, sgd = case
    stages, input_dim = _stages(name, dtype)
    x, y = _data(name, loss, dtype, 10)
    net = ops.build_network(stages, input_dim, dtype)
    net.prepare_training(loss, metrics, sgd_spec(*sgd), 10)
    order = np.arange(10, dtype=np.int64)
    net.bind_training_data(x, y, order, np.zeros(10, dtype))
    net.bind_training_data(x, y, order)
    net.train_batch(0, 10)
    assert net.stats[0] > 0


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
def test_network_weights_are_checked(ops):
    name, loss, metrics, sgd = CASES[0]
    stages, input_dim = _stages(name, np.float32)
    x, y = _data(name, loss, np.float32, 6)
    net = ops.build_network(stages, input_dim, np.float32)
    net.prepare_training(loss, metrics, sgd_spec(*sgd), 4)
    order = np.arange(6, dtype=np.int64)
    for bad, error in (
        (np.ones(5, np.float32), ValueError),
        (np.ones(6), TypeError),
        (-np.ones(6, np.float32), ValueError),
        (np.full(6, np.inf, np.float32), ValueError),
    ):
        with pytest.raises(error, match="weights"):
            net.bind_training_data(x, y, order, bad)
        with pytest.raises(error, match="weights"):
            net.train_arrays(x, y, bad)
        with pytest.raises(error, match="weights"):
            net.evaluate(x, y, 4, bad)


# ---------------------------------------------------------------- front end
X = np.random.default_rng(0).normal(size=(30, 4)).astype("float32")
LABELS = np.random.default_rng(1).integers(0, 3, 30)


def _model(loss="sparse_categorical_crossentropy", units=3, activation="softmax", metrics=("accuracy",)):
    cyneuron.utils.set_random_seed(4)
    model = cyneuron.Sequential([layers.Input((4,)), layers.Dense(units, activation=activation)])
    model.compile(optimizer=cyneuron.optimizers.SGD(0.1), loss=loss, metrics=list(metrics))
    return model


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    previous = cyneuron.backend.get_backend()
    cyneuron.backend.set_backend(request.param)
    yield request.param
    cyneuron.backend.set_backend(previous)


def test_class_weight_is_the_sample_weight_of_each_label(backend):
    class_weight = {0: 2.0, 2: 0.25}  # class 1 unlisted: weight 1
    rows = np.array([class_weight.get(int(c), 1.0) for c in LABELS])
    by_class = _model().fit(X, LABELS, batch_size=8, epochs=2, shuffle=False, verbose=0, class_weight=class_weight)
    a = by_class.model.get_weights()
    by_rows = _model().fit(X, LABELS, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=rows)
    for u, v in zip(a, by_rows.model.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert by_class.history == by_rows.history
    # one-hot rows use their arg-max, (n, 1) binary targets their rounded value
    onehot = np.eye(3, dtype="float32")[LABELS]
    m = _model("categorical_crossentropy")
    m.fit(X, onehot, batch_size=8, epochs=1, shuffle=False, verbose=0, class_weight=class_weight)
    for u, v in zip(
        m.get_weights(),
        _model().fit(X, LABELS, batch_size=8, shuffle=False, verbose=0, sample_weight=rows).model.get_weights(),
    ):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)
    binary = (LABELS[:, None] == 1).astype("float32") * 0.8  # rounds to 1
    mb = _model("binary_crossentropy", 1, "sigmoid")
    hb = mb.fit(X, binary, batch_size=8, epochs=1, shuffle=False, verbose=0, class_weight={0: 0.5, 1: 3.0})
    mr = _model("binary_crossentropy", 1, "sigmoid")
    hr = mr.fit(
        X, binary, batch_size=8, epochs=1, shuffle=False, verbose=0, sample_weight=np.where(LABELS == 1, 3.0, 0.5)
    )
    assert hb.history == hr.history


def test_logged_loss_is_weighted_and_metrics_are_not(backend):
    w = _weights(np.random.default_rng(9), 30, np.float64)
    m = _model()
    probs = m.predict(X, verbose=0)
    per_sample = -np.log(np.clip(probs[np.arange(30), LABELS], 1e-7, 1 - 1e-7))
    loss, accuracy = m.evaluate(X, LABELS, sample_weight=w, batch_size=7, verbose=0)
    assert loss == pytest.approx(float(np.sum(w * per_sample) / 30), rel=1e-5)
    assert accuracy == m.evaluate(X, LABELS, verbose=0)[1]
    assert m.test_on_batch(X, LABELS, sample_weight=w) == pytest.approx([loss, accuracy], rel=1e-6)
    # the loss tracker: batch losses averaged by batch size; zero weights count as samples
    history = _model().fit(X, LABELS, batch_size=30, epochs=1, verbose=0, sample_weight=w).history
    assert history["loss"][0] == pytest.approx(loss, rel=1e-5)


def test_validation_split_and_validation_data_weights(backend):
    w = _weights(np.random.default_rng(3), 30, np.float64) + 0.1
    m = _model()
    h = m.fit(X, LABELS, batch_size=8, epochs=1, verbose=0, sample_weight=w, validation_split=0.2)
    expected = m.evaluate(X[24:], LABELS[24:], sample_weight=w[24:], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(expected[0], rel=1e-6)
    m = _model()
    h = m.fit(X, LABELS, batch_size=8, epochs=1, verbose=0, validation_data=(X, LABELS, w[:, None]))
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(X, LABELS, sample_weight=w, verbose=0)[0], rel=1e-6)
    # class weights do not weight the validation
    m = _model()
    h = m.fit(X, LABELS, batch_size=8, epochs=1, verbose=0, class_weight={0: 5.0}, validation_split=0.2)
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(X[24:], LABELS[24:], verbose=0)[0], rel=1e-6)


def test_weighted_batches_and_train_on_batch(backend):
    w = _weights(np.random.default_rng(5), 30, np.float32)

    class Batches(cyneuron.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            s = slice(8 * i, 8 * i + 8)
            return X[s], LABELS[s], w[s]

    from_batches = _model().fit(Batches(), epochs=2, verbose=0, shuffle=False, validation_data=Batches())
    from_arrays = _model().fit(
        X, LABELS, batch_size=8, epochs=2, verbose=0, shuffle=False, sample_weight=w, validation_data=(X, LABELS, w)
    )
    for u, v in zip(from_batches.model.get_weights(), from_arrays.model.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)
    for key, values in from_arrays.history.items():
        np.testing.assert_allclose(from_batches.history[key], values, rtol=1e-6)
    a, b = _model(), _model()
    a.train_on_batch(X, LABELS, class_weight={1: 0.0})
    b.train_on_batch(X, LABELS, sample_weight=(LABELS != 1).astype("float32"))
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_weighted_metrics_see_class_and_validation_weights():
    """Keras 3: class_weight becomes the batches' sample weights, which weighted_metrics see (metrics= do not);
    validation_data's third element weights the validation's weighted metrics; no weights: unweighted."""
    model = _model()
    model.compile(
        optimizer=cyneuron.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    class_weight = {0: 0.5, 1: 2.0}
    rows = np.array([class_weight.get(int(label), 1.0) for label in LABELS])
    val_w = np.linspace(0.0, 1.0, LABELS.shape[0])
    hits = (np.argmax(model.predict(X, verbose=0), axis=1) == LABELS).astype(float)
    history = model.fit(
        X,
        LABELS,
        batch_size=X.shape[0],
        shuffle=False,
        class_weight=class_weight,
        validation_data=(X, LABELS, val_w),
        verbose=0,
    ).history
    assert history["weighted_accuracy"][0] == pytest.approx(np.sum(hits * rows) / np.sum(rows), rel=1e-6)
    assert history["accuracy"][0] == pytest.approx(hits.mean(), rel=1e-6)
    after = (np.argmax(model.predict(X, verbose=0), axis=1) == LABELS).astype(float)
    assert history["val_weighted_accuracy"][0] == pytest.approx(np.sum(after * val_w) / np.sum(val_w), rel=1e-6)
    assert model.evaluate(X, LABELS, verbose=0, return_dict=True)["weighted_accuracy"] == pytest.approx(after.mean())
    _model().compile(loss="mse", weighted_metrics=[])  # empty: as None
