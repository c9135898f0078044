"""Where to mark next: squares where the model is least sure of its map (or where two
rounds' models disagree), spread over the raster's kinds of surface rather than
side by side. The raster is cut into cells, grouped by how they look (mean colour,
how green the map is there) into as many groups as squares are wanted, and each
group gives its most uncertain cell (none where the model is sure everywhere).

Check squares, when asked for, are placed otherwise: at random, half in cells the map
calls green and half in the others (a stratified random sample, as an accuracy
assessment draws one). Marks placed where the model is unsure over-state what a
fine-tuning gains on the whole map when some of them are held out (the unsure
places are where it changes most; benchmarks/RESULTS.md); random checks do not."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from ..config import NODATA
from ..errors import UgsError
from ..feedback import Feedback, SILENT


@dataclass
class Suggestion:
    bounds: tuple          # (left, bottom, right, top) in the raster's CRS
    uncertainty: float     # mean over the square, 0 (sure) .. 1 (a coin toss)
    disagreement: float | None  # share of the square the two models map differently
    rank: int = 0
    check: bool = False    # a check square: placed at random, only to check a result


def cell_statistics(image_path, probability_path, classes_path=None,
                    other_classes_path=None, cell: int = 32,
                    feedback: Feedback = SILENT):
    """Per cell of ``cell`` px: (row, col, uncertainty, disagreement or nan, mean RGB
    0..1 (3), green share) for cells with at least half their pixels valid."""
    rows = []
    with rasterio.open(image_path) as img, rasterio.open(probability_path) as prob:
        classes = rasterio.open(classes_path) if classes_path else None
        other = rasterio.open(other_classes_path) if other_classes_path else None
        try:
            strips = range(0, prob.height - cell + 1, cell)
            for n, top in enumerate(strips):
                feedback.check_cancelled("no suggestions were written")
                window = Window(0, top, prob.width, cell)
                p = prob.read(1, window=window)
                rgb = img.read((1, 2, 3), window=window).astype(np.float32)
                scale = 255.0 if img.dtypes[0] == "uint8" else max(1.0, rgb.max())
                a = classes.read(1, window=window) if classes else None
                b = other.read(1, window=window) if other else None
                for left in range(0, prob.width - cell + 1, cell):
                    cols = slice(left, left + cell)
                    pc = p[:, cols]
                    valid = pc != NODATA
                    if valid.mean() < 0.5:
                        continue
                    share = pc[valid].astype(np.float32) / 100.0
                    unsure = float(np.mean(1 - np.abs(2 * share - 1)))
                    disagree = np.nan
                    if a is not None and b is not None:
                        both = (a[:, cols] != NODATA) & (b[:, cols] != NODATA)
                        disagree = float(np.mean(a[:, cols][both] != b[:, cols][both])) \
                            if both.any() else np.nan
                    colour = rgb[:, :, cols][:, valid].mean(1) / scale
                    green = float(np.mean(share > 0.5))
                    rows.append((top // cell, left // cell, unsure, disagree,
                                 *colour, green))
                feedback.progress(100.0 * (n + 1) / len(strips))
        finally:
            for ds in (classes, other):
                if ds is not None:
                    ds.close()
    return np.array(rows, np.float64).reshape(-1, 8)


def kmeans(features, k, seed=0, iterations=20):
    """Labels of a plain k-means (k-means++ start) of ``features`` (n, d)."""
    rng = np.random.default_rng(seed)
    n = len(features)
    centres = [features[rng.integers(n)]]
    for _ in range(1, k):
        d = np.min([((features - c) ** 2).sum(1) for c in centres], 0)
        centres.append(features[rng.choice(n, p=d / d.sum())] if d.sum() > 0
                       else features[rng.integers(n)])
    centres = np.array(centres)
    labels = np.zeros(n, int)
    for _ in range(iterations):
        labels = np.argmin(((features[:, None] - centres[None]) ** 2).sum(2), 1)
        for j in range(k):
            if (labels == j).any():
                centres[j] = features[labels == j].mean(0)
    return labels


def pick_cells(stats, count, seed=0, min_gap: int = 3, least: float = 0.2):
    """Indices of ``count`` cells: the cells in ``count`` groups by look, the most
    uncertain (plus disagreeing) cell of each group, groups the model is sure of
    everywhere (below ``least``) left out, no two picks closer than ``min_gap``
    cells; free places go to the most uncertain cells left."""
    if len(stats) == 0:
        return []
    disagreement = np.nan_to_num(stats[:, 3], nan=0.0)
    score = stats[:, 2] + disagreement
    looks = stats[:, 4:8]
    looks = (looks - looks.mean(0)) / np.maximum(looks.std(0), 1e-6)
    groups = kmeans(looks, min(count, len(stats)), seed)
    picked = []

    def far(i):
        return all(max(abs(stats[i, 0] - stats[j, 0]), abs(stats[i, 1] - stats[j, 1]))
                   >= min_gap for j in picked)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        for i in members[np.argsort(-score[members])]:
            if score[i] < least:
                break
            if far(i):
                picked.append(int(i))
                break
    for i in np.argsort(-score):
        if len(picked) >= count or score[i] < least:
            break
        if int(i) not in picked and far(i):
            picked.append(int(i))
    return sorted(picked, key=lambda i: -score[i])[:count]


def pick_checks(stats, count, taken=(), seed=0, min_gap: int = 3):
    """Indices of ``count`` cells drawn at random, alternately from the cells mapped
    mostly green and the others (while both have cells left), none closer than
    ``min_gap`` cells to another pick or to the cells ``taken``."""
    rng = np.random.default_rng(seed + 7919)  # not the guided picks' stream
    green = stats[:, 7] > 0.5
    strata = [list(rng.permutation(np.flatnonzero(green == g))) for g in (True, False)]
    placed = [(stats[i, 0], stats[i, 1]) for i in taken]
    picked = []

    def far(i):
        return all(max(abs(stats[i, 0] - r), abs(stats[i, 1] - c)) >= min_gap
                   for r, c in placed)
    turn = 0
    while len(picked) < count and any(strata):
        stratum = strata[turn % 2] or strata[(turn + 1) % 2]
        turn += 1
        while stratum:
            i = int(stratum.pop())
            if far(i):
                picked.append(i)
                placed.append((stats[i, 0], stats[i, 1]))
                break
    return picked


def suggest_squares(image_path, probability_path, count: int = 10, *,
                    checks: int = 0, classes_path=None, other_classes_path=None,
                    cell: int = 32, side: int = 16, seed: int = 0,
                    feedback: Feedback = SILENT) -> list:
    """``count`` Suggestions: squares of ``side`` px centred in the chosen cells,
    then ``checks`` check squares (``check`` True) placed at random."""
    if count < 1:
        raise UgsError("ask for at least one suggestion")
    if checks < 0:
        raise UgsError("the number of check squares cannot be negative")
    stats = cell_statistics(image_path, probability_path, classes_path,
                            other_classes_path, cell, feedback)
    if len(stats) == 0:
        raise UgsError(f"the raster has no {cell} px cell with enough valid pixels to "
                       "suggest a place")
    with rasterio.open(probability_path) as src:
        transform = src.transform
    out = []
    guided = pick_cells(stats, count, seed)
    picks = [(i, False) for i in guided] + [
        (i, True) for i in pick_checks(stats, checks, guided, seed)]
    for rank, (i, is_check) in enumerate(picks, start=1):
        row, col = int(stats[i, 0]), int(stats[i, 1])
        x0 = col * cell + (cell - side) // 2
        y0 = row * cell + (cell - side) // 2
        left, top = transform * (x0, y0)
        right, bottom = transform * (x0 + side, y0 + side)
        disagreement = None if np.isnan(stats[i, 3]) else float(stats[i, 3])
        out.append(Suggestion((min(left, right), min(bottom, top), max(left, right),
                               max(bottom, top)), float(stats[i, 2]), disagreement,
                              rank, is_check))
    return out

