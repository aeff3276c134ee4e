"""Sample grids as pictures, as torchvision.utils: make_grid lays a batch of images out in a grid, save_image
writes one as a PNG (8-bit grayscale for one channel, RGB for three) with zlib alone: no imaging library."""
import os
import struct
import zlib

import numpy as np

from ..tensor import Tensor

__all__ = ["make_grid", "save_image", "encode_png"]


def _array(images):
    return images.detach().numpy() if isinstance(images, Tensor) else np.asarray(images)


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """(B, C, H, W) images (or one (C, H, W) / (H, W) image) as one (C', H', W') grid array with `nrow` images
    a row, `padding` pixels of `pad_value` around each, as torchvision's make_grid: one channel becomes three
    (RGB) unless the batch is a single image; `normalize` maps `value_range` (default: the min and max, per
    image with `scale_each`) to [0, 1]. Returns a numpy array of the input's dtype."""
    x = _array(tensor)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]  # one (C, H, W) image, as torchvision
    if x.ndim != 4:
        raise ValueError(f"make_grid: expected images of shape (B, C, H, W), (C, H, W) or (H, W), got {x.shape}")
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=True)
    if normalize:
        def norm(a, lo_hi):
            lo, hi = lo_hi if lo_hi is not None else (float(a.min()), float(a.max()))
            np.clip(a, lo, hi, out=a)
            a -= lo
            a /= max(hi - lo, 1e-5)
        if scale_each:
            for img in x:
                norm(img, value_range)
        else:
            norm(x, value_range)
    if x.shape[0] == 1:
        return x[0]
    b, c, h, w = x.shape
    ncol = min(nrow, b)
    nrows = -(-b // ncol)
    hh, ww = h + padding, w + padding
    grid = np.full((c, nrows * hh + padding, ncol * ww + padding), pad_value, dtype=x.dtype)
    for i in range(b):
        r, col = divmod(i, ncol)
        grid[:, r * hh + padding:r * hh + padding + h, col * ww + padding:col * ww + padding + w] = x[i]
    return grid


def _chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(pixels):
    """PNG bytes of a uint8 array: (H, W) as 8-bit grayscale, (H, W, 3) as 8-bit RGB."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8 or 0 in pixels.shape or not (pixels.ndim == 2 or (pixels.ndim == 3
                                                                                 and pixels.shape[2] == 3)):
        raise ValueError(f"encode_png: expected a non-empty uint8 array of shape (H, W) or (H, W, 3), got "
                         f"{pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    rows = pixels.reshape(height, -1)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter byte 0 before each row
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + _chunk(b"IEND", b""))


def save_image(tensor, fp, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Writes images as a PNG grid at `fp` (a path or a binary file object), as torchvision's save_image:
    values in [0, 1] become round(255 * v) clamped to 0..255. A batch of one-channel images, or a single
    one-channel image, is written as 8-bit grayscale, anything else as RGB."""
    x = _array(tensor)
    gray = (x.ndim == 2) or (x.ndim >= 3 and x.shape[-3] == 1)
    grid = make_grid(x, nrow=nrow, padding=padding, normalize=normalize, value_range=value_range,
                     scale_each=scale_each, pad_value=pad_value)
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if gray:
        pixels = pixels[:, :, 0]
    elif pixels.shape[2] != 3:
        raise ValueError(f"save_image: expected 1 or 3 channels, got {pixels.shape[2]}")
    blob = encode_png(pixels)
    if isinstance(fp, (str, bytes, os.PathLike)):
        with open(fp, "wb") as f:
            f.write(blob)
    else:
        fp.write(blob)
