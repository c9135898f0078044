"""Labelled tiles for training: a folder in the UGSet layout (``images/`` and
``masks/`` with matching names) or a file of image,mask pairs, read into memory as
samples, grouped by area and split for validation by whole groups."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from ... import PLUGIN_DIR
from ..mapping import imagery
from ..errors import UgsError
from ..feedback import Feedback, SILENT

IGNORE = 255
# Non-vegetation that an RGB model takes for green space, per pixel (Sample.kinds):
# weighted up in the loss and recoloured by augmentation.
HARD_KINDS = {1: "water or deep shadow", 2: "shadow or dark surface",
              3: "green-looking non-vegetation"}


IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


class TrainingError(UgsError):
    """Training cannot start or go on; the message says why."""


@dataclass
class Sample:
    image: np.ndarray   # uint8 (3, H, W)
    mask: np.ndarray    # uint8 (H, W): 0 other, 1 green, 255 ignore
    name: str = ""
    group: str = ""     # city / area, for the validation split
    kinds: np.ndarray | None = None  # uint8 (H, W): HARD_KINDS code per pixel, 0 none
    teacher: np.ndarray | None = None  # uint8 (H, W): a teacher's green probability x 255


def normalise_mask(raw: np.ndarray) -> np.ndarray:
    """0/1 or 0/255 masks → 0/1; any other value → IGNORE."""
    mask = np.full(raw.shape, IGNORE, np.uint8)
    mask[raw == 0] = 0
    positive = 255 if (raw == 255).any() and not (raw == 1).any() else 1
    mask[raw == positive] = 1
    return mask


def to_uint8_rgb(data: np.ndarray) -> np.ndarray:
    """First three bands as uint8 (percentile stretch for other types)."""
    rgb = data[:3]
    if rgb.shape[0] == 1:
        raise TrainingError("training images need at least 3 bands (RGB)")
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    lo, hi = np.percentile(rgb, [0.5, 99.5], axis=(1, 2), keepdims=True)
    scaled = (rgb.astype(np.float32) - lo) / np.maximum(hi - lo, 1e-6) * 255
    return np.clip(scaled, 0, 255).astype(np.uint8)


def group_of(name: str, pattern: str = r"^(.*?)[_-]?\d+$") -> str:
    """Group (city/area) from a tile name: 'chico_2020_17' → 'chico_2020'."""
    match = re.match(pattern, name)
    return match.group(1) if match else name


def load_pairs(pairs, group_pattern: str = r"^(.*?)[_-]?\d+$") -> list:
    """(image path, mask path) pairs → samples."""
    import rasterio  # here: training from arrays (a GPU job) needs no GDAL
    samples = []
    for image_path, mask_path in pairs:
        with rasterio.open(image_path) as src:
            image = to_uint8_rgb(src.read())
        with rasterio.open(mask_path) as src:
            mask = normalise_mask(src.read(1))
        if mask.shape != image.shape[1:]:
            raise TrainingError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} but "
                                f"{image_path} is {image.shape[2]}x{image.shape[1]}")
        name = Path(image_path).stem
        samples.append(Sample(image, mask, name, group_of(name, group_pattern)))
    return samples


def find_tile_pairs(folder) -> list:
    """UGSet layout: ``images/`` and ``masks/`` (or ``labels/``) with matching stems
    (a mask may add ``_mask``/``_label``)."""
    folder = Path(folder)
    images = folder / "images"
    masks = next((folder / d for d in ("masks", "labels", "mask", "label")
                  if (folder / d).is_dir()), None)
    if not images.is_dir() or masks is None:
        raise TrainingError(f"{folder} needs an images/ and a masks/ subfolder with "
                            "matching file names (the UGSet layout)")
    by_stem = {}
    for path in masks.iterdir():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            stem = re.sub(r"(_mask|_label|_MASK|_LABEL)$", "", path.stem)
            by_stem[stem] = path
    pairs, unmatched = [], []
    for path in sorted(images.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in by_stem:
            pairs.append((path, by_stem[path.stem]))
        else:
            unmatched.append(path.name)
    if not pairs:
        raise TrainingError(f"no image in {images} has a mask of the same name in "
                            f"{masks}")
    return pairs, unmatched


def split_by_group(samples, val_groups=(), val_fraction: float = 0.2):
    """(train, val): whole groups go to validation, never single tiles.

    Without named groups, the smallest groups are taken until ``val_fraction`` of the
    tiles is reached (at least one group), so validation is always another area.
    ``val_fraction`` 0 (and no named groups) trains on every tile, unvalidated.
    """
    groups = sorted({s.group for s in samples})
    if not 0 <= val_fraction < 1:
        raise TrainingError(f"validation fraction {val_fraction} must be at least 0 and "
                            "below 1")
    if not val_groups and val_fraction == 0:
        return list(samples), []
    if val_groups:
        unknown = set(val_groups) - set(groups)
        if unknown:
            raise TrainingError(f"validation group(s) {sorted(unknown)} not found; "
                                f"groups are {groups}")
        chosen = set(val_groups)
    else:
        if len(groups) < 2:
            raise TrainingError("all tiles belong to one group: name validation tiles "
                                "by area or give a separate validation set, so the "
                                "validation score is not measured on the training scene")
        sizes = {g: sum(s.group == g for s in samples) for g in groups}
        chosen, count = set(), 0
        for g in sorted(groups, key=lambda g: (sizes[g], g)):
            if count >= val_fraction * len(samples) and chosen:
                break
            if len(chosen) + 1 == len(groups):
                break
            chosen.add(g)
            count += sizes[g]
    train = [s for s in samples if s.group not in chosen]
    val = [s for s in samples if s.group in chosen]
    return train, val


def read_pairs_file(path) -> list:
    """A text/CSV file with one 'image,mask' pair per line (relative to the file)."""
    path = Path(path)
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in re.split(r"[,;\t]", line) if p.strip()]
        if len(parts) != 2:
            raise TrainingError(f"{path}:{number}: expected 'image,mask', got {line!r}")
        image, mask = ((path.parent / p) if not Path(p).is_absolute() else Path(p)
                       for p in parts)
        for p in (image, mask):
            if not p.exists():
                raise TrainingError(f"{path}:{number}: {p} does not exist")
        pairs.append((image, mask))
    if not pairs:
        raise TrainingError(f"{path} lists no image,mask pairs")
    return pairs


SOURCE_SAMPLE = PLUGIN_DIR / "resources" / "source_sample"


def load_source_tiles(folder=None, *, feedback: Feedback = SILENT):
    """Labelled source tiles in the UGSet layout (default: the shipped sample) and
    their pixel size in metres (from the georeferencing; 1 m, UGSet's, if none)."""
    folder = Path(folder) if folder else SOURCE_SAMPLE
    try:
        pairs, unmatched = find_tile_pairs(folder)
        if unmatched:
            feedback.info(f"{len(unmatched)} source image(s) without a mask skipped, "
                          f"e.g. {unmatched[0]}")
        if not pairs:
            raise TrainingError(f"{folder} has no image/mask pairs")
        samples = load_pairs(pairs)
    except TrainingError as err:
        raise TrainingError(f"source tiles: {err}") from None
    sizes = []
    for image_path, _ in pairs[:20]:
        with rasterio.open(image_path) as src:
            size = imagery.pixel_size_m(src.crs, src.transform, src.bounds)
        if size:
            sizes.append(size)
    pixel_size = float(np.median(sizes)) if sizes else 1.0
    feedback.info(f"source: {len(samples)} labelled tiles from {folder} ("
                  + (f"about {pixel_size:.2f} m" if sizes
                     else "no georeferencing: 1 m assumed") + ")")
    return samples, pixel_size
