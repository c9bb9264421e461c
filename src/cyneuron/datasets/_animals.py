"""A procedural cats-vs-dogs image set: no download, NumPy only.

Each image is a cartoon animal head drawn over a cluttered background. The
class shows only in *shape*:

* cat: pointed triangular ears on top, a wide head, a small nose with whisker
  pads and whiskers, slit pupils;
* dog: floppy ears hanging at the sides (or small rounded ears on top), a
  taller head, a long snout that pokes out below the head and a big nose.

Everything else is drawn from the same distributions for both classes: fur
colour and stripes, eye colour, position, scale, rotation, background colour,
gradient and clutter, and pixel noise. Because fur can be lighter or darker
than the background, no single pixel's brightness says "cat" or "dog": a
linear model on pixels does poorly, while a network with a hidden layer
learns the shapes.

Shapes are rasterised for a whole batch of images at once: every pixel's
coordinates are mapped into each head's own frame (translate, rotate, scale)
and each shape is an approximate signed distance there, turned into a
one-pixel-wide anti-aliased coverage.
"""

from __future__ import annotations

import numpy as np

from cyneuron.datasets._common import CLASS_NAMES, ImageDataset

# Fur colours (RGB) shared by both classes: black, white, grey, ginger, brown, cream, golden.
_FUR = np.array(
    [[35, 32, 30], [235, 232, 225], [128, 128, 132], [215, 130, 55], [115, 72, 40], [232, 206, 160], [200, 160, 80]],
    dtype=np.float32,
)
_IRIS = np.array([[90, 160, 60], [210, 180, 40], [110, 70, 30], [70, 120, 170], [60, 40, 25]], dtype=np.float32)
# How much the pose and the scene vary (tuned so a small MLP on pixels reaches > 90 %
# and logistic regression stays well below): head centre offset, radius range, rotation (radians),
# clutter shapes per image, pixel-noise range, chance that muzzle/snout are lighter than the fur.
_SHIFT = 0.1
_RADIUS = (0.35, 0.43)
_TURN = 0.22
_CLUTTER = 4
_NOISE = (3.0, 14.0)
_LIGHT_P = 0.5
_CHUNK = 500  # images rendered at once: bounds the temporary arrays to ~10 MB each at size 32


def cats_vs_dogs(n: int = 10000, size: int = 32, seed: int | None = 0) -> ImageDataset:
    """Generate ``n`` labelled cat and dog images, half of each, in shuffled order.

    Args:
        n: number of images (>= 2).
        size: image height and width in pixels (>= 8); shapes scale with it.
        seed: the same seed gives the same bytes; ``None`` draws fresh randomness.

    Returns:
        ``ImageDataset`` that unpacks as ``x, y, class_names``: ``x`` uint8
        ``(n, size, size, 3)`` RGB, ``y`` int64 ``(n,)`` with 0 = cat and
        1 = dog, ``class_names == ("cat", "dog")``.
    """
    n = _check_int(n, "n", minimum=2)
    size = _check_int(size, "size", minimum=8)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    rng = np.random.default_rng(seed)

    n_dogs = n // 2
    labels = np.array([0] * (n - n_dogs) + [1] * n_dogs, dtype=np.int64)
    x = np.empty((n, size, size, 3), dtype=np.uint8)
    # Render all cats then all dogs (each chunk one class, so class-specific
    # parts are drawn only where they belong), then shuffle the order.
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        for is_dog in (False, True):
            rows = np.flatnonzero(labels[start:stop] == int(is_dog)) + start
            if rows.size:
                x[rows] = _render(rng, rows.size, size, is_dog)
    order = rng.permutation(n)
    return ImageDataset(x=x[order], y=labels[order], class_names=CLASS_NAMES)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# --- drawing primitives -----------------------------------------------------
# Arrays are (m, S, S) for coverage/coordinates and (m, S, S, 3) for images;
# per-image parameters are (m, 1, 1) so they broadcast over the pixels.


def _u(rng: np.random.Generator, low: float, high: float, m: int) -> np.ndarray:
    return rng.uniform(low, high, (m, 1, 1)).astype(np.float32)


def _cover(dist: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] from a signed distance (positive inside), anti-aliased over one pixel."""
    return np.clip(0.5 + dist / pix, 0.0, 1.0)


def _ellipse(u, v, cx, cy, a, b, tilt=None):
    """Approximate signed distance to an ellipse centred at (cx, cy) with radii (a, b), rotated by ``tilt``."""
    du, dv = u - cx, v - cy
    if tilt is not None:
        c, s = np.cos(tilt), np.sin(tilt)
        du, dv = du * c + dv * s, dv * c - du * s
    return (1.0 - np.sqrt((du / a) ** 2 + (dv / b) ** 2)) * np.minimum(a, b)


def _triangle(u, v, p0, p1, p2):
    """Signed distance (positive inside) to the triangle with corners p0, p1, p2 (each a pair of (m,1,1))."""
    corners = (p0, p1, p2)
    # Orientation makes "inside" the positive side of every edge for either winding.
    sign = np.sign((p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0]))
    dist = None
    for i in range(3):
        (ax, ay), (bx, by) = corners[i], corners[(i + 1) % 3]
        ex, ey = bx - ax, by - ay
        d = sign * (ex * (v - ay) - ey * (u - ax)) / np.sqrt(ex * ex + ey * ey)
        dist = d if dist is None else np.minimum(dist, d)
    return dist


def _segment(u, v, a, b, half_width):
    """Signed distance to a thick line segment from a to b."""
    ex, ey = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * ex + (v - a[1]) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return half_width - np.sqrt((u - a[0] - t * ex) ** 2 + (v - a[1] - t * ey) ** 2)


def _paint(img: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> None:
    """Alpha-blend ``colour`` ((m,3) or (m,S,S,3)) over ``img`` where ``cover`` says, in place."""
    # Most shapes cover few pixels: blend only those (much faster than the whole batch).
    where = np.nonzero(cover)
    colour = colour[where[0]] if colour.ndim == 2 else colour[where]
    old = img[where]
    img[where] = old + cover[where][:, None] * (colour - old)


def _pick(rng: np.random.Generator, palette: np.ndarray, m: int, jitter: float) -> np.ndarray:
    return palette[rng.integers(0, len(palette), m)] + rng.normal(0.0, jitter, (m, 3)).astype(np.float32)


# --- one batch of one class ---------------------------------------------------


def _render(rng: np.random.Generator, m: int, size: int, is_dog: bool) -> np.ndarray:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0  # pixel centres in [-1, 1]
    gx, gy = coords[None, None, :], coords[None, :, None]
    img = _background(rng, m, size, gx, gy)

    # The head's frame: centre, radius (in image half-widths) and rotation.
    cx, cy = _u(rng, -_SHIFT, _SHIFT, m), _u(rng, -_SHIFT + 0.03, _SHIFT + 0.03, m)
    radius = _u(rng, *_RADIUS, m)
    angle = _u(rng, -_TURN, _TURN, m)
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = gx - cx, gy - cy
    u = (dx * cos + dy * sin) / radius  # across the face, head radius 1
    v = (dy * cos - dx * sin) / radius  # down the face (image y grows downwards)
    pix = (2.0 / size) / radius  # one pixel in head units

    fur = _pick(rng, _FUR, m, 14.0)
    # Keep fur and background apart in colour for most images, else the animal is invisible.
    for _ in range(3):
        bg_mean = img.mean(axis=(1, 2))
        close = np.linalg.norm(bg_mean - fur, axis=1) < 90.0
        if not close.any():
            break
        fur[close] = _pick(rng, _FUR, int(close.sum()), 14.0)
    stripes = np.where(rng.random((m, 1, 1)) < 0.5, _u(rng, 0.1, 0.35, m), 0.0).astype(np.float32)
    s_dir, s_freq, s_phase = _u(rng, 0, np.pi, m), _u(rng, 5.0, 10.0, m), _u(rng, 0, 2 * np.pi, m)
    pattern = 1.0 + stripes * np.sin(s_freq * (u * np.cos(s_dir) + v * np.sin(s_dir)) + s_phase)
    fur_field = fur[:, None, None, :] * pattern[..., None]

    if is_dog:
        floppy = rng.random((m, 1, 1)) < 0.65
        # Ears a shade darker or lighter than the fur, either way equally often.
        shade = np.where(rng.random((m, 1)) < 0.5, 20.0, 240.0).astype(np.float32)
        ear_colour = fur + rng.uniform(0.2, 0.5, (m, 1)).astype(np.float32) * (shade - fur)
        ears_up = _dog_round_ears(rng, m, u, v)
        _paint(img, _cover(ears_up, pix) * ~floppy, ear_colour)
        head_a, head_b = _u(rng, 0.80, 0.92, m), _u(rng, 0.95, 1.05, m)
    else:
        _cat_ears(rng, m, u, v, pix, img, fur_field)
        head_a, head_b = _u(rng, 0.98, 1.08, m), _u(rng, 0.80, 0.90, m)
    _paint(img, _cover(_ellipse(u, v, 0.0, 0.0, head_a, head_b), pix), fur_field)
    if is_dog:
        _paint(img, _cover(_dog_floppy_ears(rng, m, u, v), pix) * floppy, ear_colour)

    _eyes(rng, m, u, v, pix, img, slit=not is_dog)
    light = fur + rng.uniform(0.3, 0.7, (m, 1)).astype(np.float32) * (
        np.where(rng.random((m, 1)) < _LIGHT_P, 240.0, 20.0).astype(np.float32) - fur
    )
    if is_dog:
        _dog_snout(rng, m, u, v, pix, img, light)
    else:
        _cat_muzzle(rng, m, u, v, pix, img, light, fur)

    img += rng.standard_normal(img.shape, dtype=np.float32) * _u(rng, *_NOISE, m)[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _background(rng, m, size, gx, gy) -> np.ndarray:
    c0 = rng.uniform(0, 255, (m, 3)).astype(np.float32)
    c1 = np.clip(c0 + rng.normal(0, 50, (m, 3)), 0, 255).astype(np.float32)
    g_dir = _u(rng, 0, 2 * np.pi, m)
    t = (gx * np.cos(g_dir) + gy * np.sin(g_dir) + 1.0) / 2.0
    img = c0[:, None, None, :] + t[..., None] * (c1 - c0)[:, None, None, :]
    pix = np.float32(2.0 / size)
    # Clutter: a few random discs, boxes and sticks, each present in some images only.
    for _ in range(_CLUTTER):
        present = rng.random((m, 1, 1)) < 0.7
        kind = rng.integers(0, 3, (m, 1, 1))
        px, py = _u(rng, -1.1, 1.1, m), _u(rng, -1.1, 1.1, m)
        w, h = _u(rng, 0.06, 0.35, m), _u(rng, 0.06, 0.35, m)
        disc = _ellipse(gx, gy, px, py, w, h)
        box = np.minimum(w - np.abs(gx - px), h - np.abs(gy - py))
        stick = _segment(gx, gy, (px, py), (px + w * 3 - 0.5, py + h * 3 - 0.5), np.float32(0.03))
        dist = np.where(kind == 0, disc, np.where(kind == 1, box, stick))
        colour = rng.uniform(0, 255, (m, 3)).astype(np.float32)
        _paint(img, _cover(dist, pix) * present * _u(rng, 0.4, 1.0, m), colour)
    return img


def _cat_ears(rng, m, u, v, pix, img, fur_field) -> None:
    inner = np.where(rng.random((m, 1)) < 0.5, [[235, 150, 160]], [[40, 30, 30]]).astype(np.float32)
    for side in (-1.0, 1.0):
        base_in = (side * _u(rng, 0.15, 0.35, m), -_u(rng, 0.65, 0.8, m))
        base_out = (side * _u(rng, 0.85, 1.0, m), -_u(rng, 0.25, 0.45, m))
        tip = (side * _u(rng, 0.7, 1.0, m), -_u(rng, 1.4, 1.7, m))
        _paint(img, _cover(_triangle(u, v, base_in, base_out, tip), pix), fur_field)
        # The pink inside: the same triangle shrunk towards its centre.
        mid_u = (base_in[0] + base_out[0] + tip[0]) / 3
        mid_v = (base_in[1] + base_out[1] + tip[1]) / 3
        shrink = [(mid_u + 0.5 * (p[0] - mid_u), mid_v + 0.5 * (p[1] - mid_v)) for p in (base_in, base_out, tip)]
        mix = rng.uniform(0.3, 0.8, (m, 1)).astype(np.float32)
        inner_colour = fur_field[:, 0, 0, :] + mix * (inner - fur_field[:, 0, 0, :])
        _paint(img, _cover(_triangle(u, v, *shrink), pix), inner_colour)


def _dog_round_ears(rng, m, u, v) -> np.ndarray:
    radius = _u(rng, 0.28, 0.38, m)
    ears = [_ellipse(u, v, side * _u(rng, 0.6, 0.78, m), -_u(rng, 0.7, 0.85, m), radius, radius) for side in (-1, 1)]
    return np.maximum(*ears)


def _dog_floppy_ears(rng, m, u, v) -> np.ndarray:
    ears = []
    for side in (-1.0, 1.0):
        cu, cv = side * _u(rng, 0.78, 0.95, m), _u(rng, -0.1, 0.2, m)
        a, b = _u(rng, 0.22, 0.34, m), _u(rng, 0.55, 0.8, m)
        ears.append(_ellipse(u, v, cu, cv, a, b, tilt=side * _u(rng, 0.05, 0.45, m)))
    return np.maximum(*ears)


def _eyes(rng, m, u, v, pix, img, slit: bool) -> None:
    spread, height, size = _u(rng, 0.3, 0.42, m), -_u(rng, 0.05, 0.25, m), _u(rng, 0.11, 0.16, m)
    iris = _pick(rng, _IRIS, m, 12.0)
    pupil = np.full((m, 3), 15.0, dtype=np.float32)
    for side in (-1.0, 1.0):
        _paint(img, _cover(_ellipse(u, v, side * spread, height, size, size), pix), iris)
        wide = 0.3 if slit else 0.6
        tall = 0.9 if slit else 0.6
        _paint(img, _cover(_ellipse(u, v, side * spread, height, size * wide, size * tall), pix), pupil)


def _cat_muzzle(rng, m, u, v, pix, img, light, fur) -> None:
    pad_v, pad_r = _u(rng, 0.35, 0.45, m), _u(rng, 0.14, 0.19, m)
    pads = np.maximum(*[_ellipse(u, v, side * pad_r * 0.9, pad_v, pad_r, pad_r) for side in (-1, 1)])
    _paint(img, _cover(pads, pix), light)
    nose_v = pad_v - pad_r * 0.9
    nose = _triangle(u, v, (-0.1, nose_v - 0.1), (0.1, nose_v - 0.1), (0.0, nose_v + 0.05))
    nose_colour = np.where(rng.random((m, 1)) < 0.6, [[225, 120, 140]], [[30, 25, 25]]).astype(np.float32)
    _paint(img, _cover(nose, pix), nose_colour)
    # Whiskers: thin strokes fanning out past the cheeks, light on dark fur and dark on light fur.
    bright = fur.mean(axis=1, keepdims=True) < 120
    whisker = np.where(bright, 235.0, 25.0).astype(np.float32) * np.ones((1, 3), dtype=np.float32)
    strokes = None
    for side in (-1.0, 1.0):
        for k in (-1.0, 0.0, 1.0):
            start = (side * 0.25, pad_v + 0.05 * k)
            end = (side * _u(rng, 1.1, 1.4, m), pad_v - 0.1 + 0.22 * k + _u(rng, -0.06, 0.06, m))
            d = _segment(u, v, start, end, 0.035)
            strokes = d if strokes is None else np.maximum(strokes, d)
    _paint(img, _cover(strokes, pix) * 0.85, whisker)


def _dog_snout(rng, m, u, v, pix, img, light) -> None:
    snout_v, snout_a, snout_b = _u(rng, 0.5, 0.68, m), _u(rng, 0.36, 0.48, m), _u(rng, 0.45, 0.62, m)
    _paint(img, _cover(_ellipse(u, v, 0.0, snout_v, snout_a, snout_b), pix), light)
    nose_v = snout_v - snout_b * _u(rng, 0.1, 0.35, m)
    nose_colour = np.full((m, 3), 25.0, dtype=np.float32) + rng.uniform(0, 40, (m, 1)).astype(np.float32)
    _paint(img, _cover(_ellipse(u, v, 0.0, nose_v, _u(rng, 0.17, 0.24, m), _u(rng, 0.11, 0.16, m)), pix), nose_colour)
    mouth = _segment(u, v, (0.0, nose_v), (0.0, snout_v + snout_b * 0.6), 0.04)
    _paint(img, _cover(mouth, pix) * 0.7, nose_colour)
