"""Progress output of ``fit`` / ``evaluate`` / ``predict``, formatted as Keras 3's ``Progbar``.

* ``verbose=1``: a live bar (step count, 20-character bar, ETA or elapsed time,
  time per step, running metrics), redrawn in place at most every ``interval``
  seconds on a terminal (or notebook). When stdout is not a terminal, only the
  finished line of each epoch is written, without colour codes.
* ``verbose=2``: one line per epoch, e.g.
  ``210/210 - 0s - 1ms/step - accuracy: 0.9214 - loss: 0.2761``.
* ``verbose=0``: nothing.

Values are shown as given (the caller passes running averages), with 4
decimals, or in scientific notation when tiny, as Keras does.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping

import numpy as np

__all__ = ["Progbar", "check_verbose"]


def check_verbose(verbose, name: str = "verbose") -> int:
    """``"auto"`` -> 1; otherwise 0, 1 or 2."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{name}: expected 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _stdout():
    # Looked up at every write so that redirections (pytest's capsys, contextlib.redirect_stdout) are honoured.
    return sys.stdout


def _is_dynamic(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):
        tty = False
    return tty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def _bar_char(stream) -> str:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "━".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "="
    return "━"


def format_time(seconds_per_unit: float, unit_name: str = "step") -> str:
    """`` 12ms/step``, `` 3s/step``, `` 850us/step`` (leading space, as Keras)."""
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f" {seconds_per_unit:.0f}s/{unit_name}"
    if seconds_per_unit >= 1e-3:
        return f" {seconds_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {seconds_per_unit * 1e6:.0f}us/{unit_name}"


def _scalar(value) -> float:
    """A logged value as the bar shows it: a metric with one result per threshold or class (an array) shows
    its mean, as Keras' bar does."""
    return float(value) if isinstance(value, (int, float)) else float(np.mean(value))


def format_value(value: float, *, absolute: bool) -> str:
    # Keras' verbose=1 bar tests |value|, its verbose=2 line the signed value: keep both quirks.
    magnitude = abs(value) if absolute else value
    return f"{value:.4f}" if magnitude > 1e-3 else f"{value:.4e}"


class Progbar:
    """A Keras-style progress display for one pass (an epoch, an evaluation or a prediction).

    Args:
        target: total number of steps, or None when unknown (a generator without ``steps_per_epoch``).
        verbose: 1 (live bar) or 2 (one line when finished); 0 displays nothing.
        interval: minimum seconds between two redraws of the live bar.
        unit_name: the unit shown in the time per step (``"step"``).
    """

    def __init__(self, target: int | None, verbose: int = 1, interval: float = 0.05, unit_name: str = "step") -> None:
        self.target = None if target is None else int(target)
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        stream = _stdout()
        self._dynamic = _is_dynamic(stream)
        self._char = _bar_char(stream)
        self._start = time.perf_counter()
        self._after_first_step: float | None = None
        self._last_update = 0.0
        self._prev_width = 0
        self._open_line = False

    def first_step_done(self, now: float | None = None) -> None:
        """Record the end of step 1: later time-per-step estimates leave that (often slow) step out."""
        self._after_first_step = time.perf_counter() if now is None else now

    def _time_per_step(self, current: int, now: float) -> float:
        if current <= 0:
            return 0.0
        if self.verbose == 1 and self._after_first_step is not None and current > 1:
            return (now - self._after_first_step) / (current - 1)
        return (now - self._start) / current

    def update(self, current: int, values: Mapping[str, float] | None = None, finalize: bool = False) -> None:
        """Show progress at step ``current`` with ``values`` (name -> value); ``finalize`` ends the line."""
        if self.verbose == 1:
            now = time.perf_counter()
            if not finalize and (not self._dynamic or now - self._last_update < self.interval):
                return
            self._draw_bar(current, values or {}, finalize, now)
            self._last_update = now
        elif self.verbose == 2 and finalize:
            now = time.perf_counter()
            line = f"{self._count(current)} - {now - self._start:.0f}s -"
            line += format_time(self._time_per_step(current, now), self.unit_name)
            for key, value in (values or {}).items():
                line += f" - {key}: {format_value(_scalar(value), absolute=False)}"
            self._write(line + "\n")

    def _draw_bar(self, current: int, values: Mapping[str, float], finalize: bool, now: float) -> None:
        dynamic = self._dynamic
        bold, green, grey, reset = ("\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m") if dynamic else ("", "", "", "")
        count = self._count(current)
        bar = f"{bold}{count}{reset} "
        visible = len(count) + 1
        if self.target is not None:
            filled = int(20 * current / self.target) if self.target > 0 else 20
            visible += 20
            if filled > 0:
                bar += f"{green}{self._char * filled}{reset}"
            bar += f"{grey}{self._char * (20 - filled)}{reset}"
        per_step = self._time_per_step(current, now)
        if finalize or self.target is None:
            clock = f"{now - self._start:.0f}s"
        else:
            eta = per_step * (self.target - current)
            if eta > 3600:
                clock = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                clock = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                clock = f"{int(eta)}s"
        info = f" {bold}{clock}{reset}" + format_time(per_step, self.unit_name)
        visible += 1 + len(clock) + len(format_time(per_step, self.unit_name))
        for key, value in values.items():
            item = f" - {key}: {format_value(_scalar(value), absolute=True)}"
            info += item
            visible += len(item)
        if dynamic:
            message = "\r" + bar + info
            if self._prev_width > visible:
                message += " " * (self._prev_width - visible)
            self._prev_width = visible
            self._open_line = not finalize
            self._write(message + ("\n" if finalize else ""))
        else:
            self._write(bar + info + "\n")

    def _count(self, current: int) -> str:
        if self.target is None:  # as Keras: "12/Unknown"
            return f"{current}/Unknown"
        digits = int(math.log10(self.target)) + 1 if self.target > 0 else 1
        return f"{current:{digits}d}/{self.target}"

    def close_line(self) -> None:
        """End a live bar left mid-line (before printing a message after an interruption)."""
        if self._open_line:
            self._write("\n")
            self._open_line = False

    @staticmethod
    def _write(text: str) -> None:
        stream = _stdout()
        stream.write(text)
        stream.flush()
