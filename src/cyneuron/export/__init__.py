"""``Sequential.export``: the model's forward pass as a standalone inference artifact.

Keras 3 names five formats; cyneuron writes ONNX (``cyneuron.export.onnx``, needs the ``onnx`` extra).
The others need TensorFlow, OpenVINO or PyTorch's exporters, which cyneuron does not use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_model", "FORMATS"]

# Keras 3.15's formats (``keras.Model.export``), in its order
FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
_NEEDS = {"tf_saved_model": "TensorFlow", "openvino": "OpenVINO", "litert": "TensorFlow Lite", "torch": "PyTorch"}


def export_model(model: Any, filepath, format: str = "tf_saved_model", verbose=None, input_signature=None, **kwargs):
    """Dispatch ``model.export(filepath, format=...)``; only ``format="onnx"`` is available.

    Raises:
        ValueError: for a format Keras does not know (as Keras does), for Keras' other formats
            (not available in cyneuron), and for a model that is not built.
    """
    if not isinstance(format, str) or format not in FORMATS:
        raise ValueError(f"Unrecognized format={format}. Supported formats are: {list(FORMATS)}.")
    if format != "onnx":
        raise ValueError(
            f"format={format!r} is not available in cyneuron (it needs {_NEEDS[format]}); "
            "use format='onnx' and serve the file with onnxruntime"
        )
    from cyneuron.export.onnx import export_onnx

    export_onnx(model, filepath, verbose=verbose, input_signature=input_signature, **kwargs)
