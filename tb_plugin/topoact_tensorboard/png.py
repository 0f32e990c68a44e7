"""A minimal PNG encoder (zlib + struct) for sample thumbnails, so the plugin needs no imaging library.

Example:
    >>> import numpy as np
    >>> data = encode_png(np.zeros((2, 3, 1), dtype=np.uint8))
    >>> data[:8] == PNG_SIGNATURE
    True
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types for 1, 2, 3 and 4 channels: grey, grey + alpha, RGB, RGBA.
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(image: np.ndarray) -> bytes:
    """Encode a ``uint8`` image of shape ``(height, width)`` or ``(height, width, channels)``, channels 1-4."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in _COLOR_TYPES:
        raise ValueError("image must be uint8 of shape (h, w) or (h, w, 1-4)")
    h, w, c = image.shape
    if h == 0 or w == 0:
        raise ValueError("image must not be empty")
    # Filter type 0 (none) on every row: thumbnails are tiny, so better filtering would not pay off.
    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), image.reshape(h, w * c)], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer ``factor`` (keeps pixels crisp, unlike browser smoothing)."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
