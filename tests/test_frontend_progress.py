"""Progress output of fit / evaluate / predict, in Keras 3's formats (checked with capsys)."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

from cyneuron._progbar import Progbar, check_verbose, format_time, format_value
from cyneuron.layers import Dense
from cyneuron.models import Sequential
from cyneuron.optimizers import SGD

NUM = r"\d+\.\d{4}(e[-+]\d+)?"
TIME = r"\d+(us|ms|s)/step"
BAR = "━" * 20


@pytest.fixture
def model_and_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    model = Sequential([Dense(5, input_shape=(4,), activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


def test_verbose_0_prints_nothing(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.predict(x)
    assert capsys.readouterr().out == ""


def test_verbose_2_one_line_per_epoch(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, batch_size=8, epochs=3, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    pattern = rf"^5/5 - \d+s - {TIME} - accuracy: {NUM} - loss: {NUM} - val_accuracy: {NUM} - val_loss: {NUM}$"
    for line in lines[1::2]:
        assert re.match(pattern, line), line
    assert len(lines) == 6


def test_verbose_2_single_epoch_has_no_epoch_header(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, batch_size=50, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(rf"1/1 - \d+s - {TIME} - accuracy: {NUM} - loss: {NUM}\n", out), out


def test_verbose_2_values_match_history(model_and_data, capsys):
    model, x, y = model_and_data
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert f"loss: {history.history['loss'][0]:.4f}" in out
    assert f"accuracy: {history.history['accuracy'][0]:.4f}" in out


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_verbose_1_when_not_a_terminal_writes_the_finished_bar(model_and_data, capsys, verbose):
    model, x, y = model_and_data
    model.fit(x, y, batch_size=8, epochs=2, verbose=verbose)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for line in (lines[1], lines[3]):
        assert re.fullmatch(rf"7/7 {BAR} \d+s {TIME} - accuracy: {NUM} - loss: {NUM}", line), line
    assert "\x1b" not in "".join(lines) and "\r" not in "".join(lines)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_on_a_terminal_redraws_in_place(model_and_data, monkeypatch):
    model, x, y = model_and_data
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    model.fit(x, y, batch_size=8, epochs=1, verbose=1)
    model.evaluate(x, y, verbose=1)
    out = terminal.getvalue()
    assert "\r" in out and "\x1b[1m" in out
    plain = re.sub(r"\x1b\[\d+m", "", out)
    finished = [segment.split("\r")[-1] for segment in plain.split("\n") if segment]
    assert re.fullmatch(rf"7/7 {BAR} \d+s {TIME} - accuracy: {NUM} - loss: {NUM}\s*", finished[0]), finished
    assert re.fullmatch(rf"2/2 {BAR} \d+s {TIME} - accuracy: {NUM} - loss: {NUM}\s*", finished[1]), finished


def test_evaluate_and_predict_output(model_and_data, capsys):
    model, x, y = model_and_data
    model.evaluate(x, y, batch_size=10)
    model.evaluate(x, y, batch_size=10, verbose=2)
    model.predict(x, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"5/5 {BAR} \d+s {TIME} - accuracy: {NUM} - loss: {NUM}", lines[0]), lines[0]
    assert re.fullmatch(rf"5/5 - \d+s - {TIME} - accuracy: {NUM} - loss: {NUM}", lines[1]), lines[1]
    assert re.fullmatch(rf"2/2 {BAR} \d+s {TIME}", lines[2]), lines[2]


def test_step_count_is_right_aligned():
    out = io.StringIO()
    old, sys.stdout = sys.stdout, out
    try:
        bar = Progbar(120, verbose=2)
        bar.update(120, {"loss": 0.5}, finalize=True)
        Progbar(120, verbose=1).update(7, {}, finalize=True)
    finally:
        sys.stdout = old
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("120/120 - ")
    assert lines[1].startswith("  7/120 ━━")  # 7/120 fills int(20 * 7 / 120) = 1 cell
    assert lines[1].count("━") == 20


def test_number_and_time_formats():
    assert format_value(0.27611, absolute=False) == "0.2761"
    assert format_value(1e-5, absolute=False) == "1.0000e-05"
    assert format_value(-0.5, absolute=True) == "-0.5000"
    assert format_value(-0.5, absolute=False) == "-5.0000e-01"  # Keras' verbose=2 quirk
    assert format_time(0.0123) == " 12ms/step"
    assert format_time(2.4) == " 2s/step"
    assert format_time(0.000004) == " 4us/step"
    assert format_time(0) == " 0s/step"


def test_check_verbose():
    assert check_verbose("auto") == 1
    assert [check_verbose(v) for v in (0, 1, 2)] == [0, 1, 2]
    for bad in (3, -1, True, "1", None):
        with pytest.raises(ValueError, match="verbose"):
            check_verbose(bad)


def test_divergence_message_is_printed(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32) * 100
    model = Sequential([Dense(3, input_shape=(4,))])
    model.compile(optimizer=SGD(1e6), loss="mse")
    with pytest.warns(RuntimeWarning):
        model.fit(x, x[:, :3] * 100, batch_size=4, epochs=3, verbose=1)
    out = capsys.readouterr().out
    assert re.search(r"Epoch \d/3, batch \d/4: the loss or a gradient is not finite", out), out
