"""A PNG quick-look: the imagery with the green-space map laid over it."""
from __future__ import annotations

import warnings

import numpy as np
import rasterio
from rasterio.enums import Resampling

from ..outputs import atomic_output
from .predict import GREEN, GREEN_RGBA


def write_quicklook(image_path, class_path, png_path, max_side: int = 1024,
                    bands=(1, 2, 3), opacity: float = 0.45):
    """Decimated RGB of ``image_path`` with green space tinted; returns (w, h)."""
    with rasterio.open(image_path) as img, rasterio.open(class_path) as cls:
        scale = max(1.0, max(img.width, img.height) / max_side)
        shape = (max(1, round(img.height / scale)), max(1, round(img.width / scale)))
        rgb = img.read(list(bands), out_shape=(3, *shape),
                       resampling=Resampling.average).astype(np.float32)
        classes = cls.read(1, out_shape=shape, resampling=Resampling.nearest)
    if img.dtypes[0] != "uint8":
        lo, hi = np.percentile(rgb, [1, 99], axis=(1, 2), keepdims=True)
        rgb = (rgb - lo) / np.maximum(hi - lo, 1e-6) * 255
    tint = np.array(GREEN_RGBA[:3], np.float32).reshape(3, 1, 1)
    green = classes == GREEN
    rgb[:, green] = (1 - opacity) * rgb[:, green] + opacity * tint[:, :, 0]
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    with atomic_output(png_path, ".png") as tmp, warnings.catch_warnings():
        # A quick-look is a picture: no georeferencing wanted.
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", driver="PNG", width=shape[1], height=shape[0],
                           count=3, dtype="uint8") as dst:
            dst.write(out)
    return shape[1], shape[0]
