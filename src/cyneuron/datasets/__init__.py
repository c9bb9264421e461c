"""Small data sets that need no download.

* ``cats_vs_dogs(n, size, seed)``: procedural cat and dog head images (NumPy only).
* ``image_folder(path, size)``: real photos from a "Dogs vs. Cats" style folder (needs Pillow).
* ``side_effects(n, seed)``: the drug-trial ages and side-effect labels from the classic tutorial.
* ``sunspots()``: the yearly mean sunspot numbers 1700-2008 (NOAA's NGDC, public domain), a real time series.

Image sets unpack as ``x, y, class_names`` with ``x`` uint8 ``(n, size, size, 3)``
and ``y`` int64 ``(n,)`` (0 = cat, 1 = dog); ``side_effects`` unpacks as ``ages, labels``.
"""

from cyneuron.datasets._animals import cats_vs_dogs
from cyneuron.datasets._common import CLASS_NAMES, ImageDataset
from cyneuron.datasets._folder import IMAGE_SUFFIXES, image_folder
from cyneuron.datasets._sunspots import Sunspots, sunspots
from cyneuron.datasets._trial import SIDE_EFFECT_NAMES, SideEffects, side_effects

__all__ = [
    "CLASS_NAMES",
    "IMAGE_SUFFIXES",
    "SIDE_EFFECT_NAMES",
    "ImageDataset",
    "SideEffects",
    "cats_vs_dogs",
    "image_folder",
    "side_effects",
    "Sunspots",
    "sunspots",
]


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
