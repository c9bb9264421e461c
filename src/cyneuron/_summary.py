"""``model.summary()``'s table, drawn as Keras 3 draws it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrap a table cell as Keras' rich tables do: a word too long for a line is cut with an ellipsis."""
    lines: list[str] = []
    for word in text.split(" "):
        if len(word) > width:
            word = word[: width - 1] + "…"
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _readable_size(size: float) -> str:
    """Bytes as Keras' summary shows them: ``1.63 KB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def summary_text(model) -> str:
    """The text of ``model.summary()``."""
    self = model
    widths = (31, 22, 13)  # cell contents of Keras' default 76-character table

    def border(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells: Sequence[str], sep: str = "│", right_align_last: bool = True) -> list[str]:
        wrapped = [_wrap(c, w) for c, w in zip(cells, widths)]
        height = max(len(lines) for lines in wrapped)
        out = []
        for i in range(height):
            parts = []
            for j, (lines, w) in enumerate(zip(wrapped, widths)):
                text = lines[i] if i < len(lines) else ""
                parts.append(text.rjust(w) if (j == 2 and right_align_last) else text.ljust(w))
            out.append(sep + sep.join(f" {p} " for p in parts) + sep)
        return out

    lines = [f'Model: "{self.name}"', border("┏", "━", "┳", "┓")]
    lines += row(["Layer (type)", "Output Shape", "Param #"], sep="┃")
    lines.append(border("┡", "━", "╇", "┩"))
    for index, layer in enumerate(self.layers):
        if index:
            lines.append(border("├", "─", "┼", "┤"))
        if layer.built:
            shape = "(" + ", ".join("None" if d is None else str(d) for d in layer.output_shape) + ")"
            params = f"{layer.count_params():,}"
        else:
            shape, params = "?", "0 (unbuilt)"
        lines += row([f"{layer.name} ({type(layer).__name__})", shape, params])
    lines.append(border("└", "─", "┴", "┘"))
    trainable_weights, frozen_weights = self.trainable_weights, self.non_trainable_weights
    trainable = sum(w.size for w in trainable_weights)
    trainable_bytes = sum(w.nbytes for w in trainable_weights)
    frozen = sum(w.size for w in frozen_weights)
    frozen_bytes = sum(w.nbytes for w in frozen_weights)
    optimizer_count = optimizer_bytes = 0
    optimizer_built = self.compiled and self.optimizer is not None and self.optimizer.built
    if optimizer_built:
        itemsize = np.dtype(self.dtype).itemsize
        optimizer_count, optimizer_bytes = self.optimizer.optimizer_variable_count(
            [w.size for w in trainable_weights], itemsize
        )
    total, total_bytes = trainable + frozen + optimizer_count, trainable_bytes + frozen_bytes + optimizer_bytes
    lines.append(f" Total params: {total:,} ({_readable_size(total_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({_readable_size(trainable_bytes)})")
    lines.append(f" Non-trainable params: {frozen:,} ({_readable_size(frozen_bytes)})")
    if optimizer_built:
        lines.append(f" Optimizer params: {optimizer_count:,} ({_readable_size(optimizer_bytes)})")
    return "\n".join(lines)
