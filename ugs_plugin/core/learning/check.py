"""The accept-or-keep check of a fine-tuning round. Candidates are mixes of the base
and the fine-tuned weights (WiSE-FT: alpha 0 is the base, 1 the fine-tuned model);
each is scored on the held-out marks and measured for how far it moves the map away
from every mark: all of it, and the part where the base model was sure (probability
of green under 10 % or over 90 %). An unsure base may change broadly when the marks
show it wrong; where it was sure and nobody marked, a change is what fine-tuning on
marks that disagree with the imagery does (Valencia, benchmarks/RESULTS.md). Of the
candidates within both allowances that beat the base on the held-out marks by a
clear margin (a rise of a few hundredths from a few polygons is noise, and on
Valencia such rises came with parks lost), the one furthest from the base is written
(a few held-out marks rank close candidates by chance; the moves are what guard the
map); when none does, the base stays."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ..config import GREEN, NODATA
from ..feedback import Feedback, SILENT
from ..outputs import remove_quietly

ALPHAS = (0.25, 0.5, 0.75, 1.0)
GUARD_SIDE = 192   # px of a window measuring the map's move
GUARD_MARGIN = 24  # px around the marks left out of that measure
SURE = 40          # the base is sure where its probability of green is this far from 50 %
PARTS = 4          # the raster cut into PARTS x PARTS to see where the marks lie


@dataclass
class Candidate:
    alpha: float
    scores: dict | None            # held-out scores (holdout_scores), None: no hold-out
    moved: float | None            # share of guard pixels whose class changed
    moved_sure: float | None = None  # ... changed where the base was sure
    green: float | None = None     # share of guard pixels mapped green
    source_f1: float | None = None  # F1 on the labelled source sample

    @property
    def f1(self):
        return None if self.scores is None else self.scores.get("f1")


@dataclass
class Decision:
    accepted: bool
    chosen: Candidate | None       # the candidate written as the model, if accepted
    best: Candidate | None         # the best candidate, accepted or not
    reason: str
    candidates: list = field(default_factory=list)

    def as_card(self) -> dict:
        return {"decision": "accepted" if self.accepted else "kept the base model",
                "reason": self.reason,
                "alpha": None if self.chosen is None else self.chosen.alpha,
                "candidates": [{"alpha": c.alpha, "holdout_f1": c.f1,
                                "moved": c.moved, "moved_sure": c.moved_sure,
                                "green": c.green, "source_f1": c.source_f1}
                               for c in self.candidates]}


def mix(base_state: dict, tuned_state: dict, alpha: float) -> dict:
    """(1 - alpha) * base + alpha * tuned, tensor by tensor (integer buffers such as
    BatchNorm's step counts are taken from the tuned state)."""
    out = {}
    for key, tuned in tuned_state.items():
        base = base_state[key]
        out[key] = (base + alpha * (tuned - base)) if tuned.is_floating_point() \
            else tuned.clone()
    return out


def guard_windows(src, count: int, seed: int = 0, side: int = GUARD_SIDE) -> list:
    """Up to ``count`` non-overlapping windows spread at random over the raster:
    where the check sees how far the map moves."""
    side = min(side, src.width, src.height)
    rng = np.random.default_rng(seed)
    windows = []
    for _ in range(count * 40):
        if len(windows) == count:
            break
        col = int(rng.integers(0, src.width - side + 1))
        row = int(rng.integers(0, src.height - side + 1))
        window = Window(col, row, side, side)
        if not any(_overlap(window, w) for w in windows):
            windows.append(window)
    return windows


def away_from(src, windows, geometries, margin: float) -> list:
    """Per window, the pixels farther than ``margin`` (map units) from every mark:
    the map there is what the marks do not speak for."""
    from rasterio.features import geometry_mask
    from shapely.ops import unary_union
    near = unary_union([g.buffer(margin) for g in geometries])
    return [geometry_mask([near], out_shape=(int(w.height), int(w.width)),
                          transform=src.window_transform(w)) for w in windows]


def parts_marked(src, geometries, parts: int = PARTS) -> tuple[int, int]:
    """(parts holding a mark, parts with imagery) of the raster cut into ``parts`` x
    ``parts``: the check speaks for the parts its marks lie in, not for the rest
    (marks and checks on Valencia's west half, park F1 lost on the east)."""
    from shapely.geometry import box
    left, bottom, right, top = src.bounds
    width, height = (right - left) / parts, (top - bottom) / parts
    samples = 8  # the dataset mask read small, samples x samples per part
    valid = src.dataset_mask(out_shape=(samples * parts,) * 2) > 0
    marked = imaged = 0
    for row in range(parts):
        for col in range(parts):
            part = valid[samples * row:samples * (row + 1),
                         samples * col:samples * (col + 1)]
            if part.mean() < 0.1:
                continue  # (nearly) no imagery here: nothing to map or mark
            imaged += 1
            cell = box(left + col * width, top - (row + 1) * height,
                       left + (col + 1) * width, top - row * height)
            marked += any(g.intersects(cell) for g in geometries)
    return marked, imaged


def _overlap(a, b) -> bool:
    return not (a.col_off + a.width <= b.col_off or b.col_off + b.width <= a.col_off
                or a.row_off + a.height <= b.row_off or b.row_off + b.height <= a.row_off)


def map_windows(image_path, windows, model, card, scratch, *, sure: bool = False,
                feedback: Feedback = SILENT):
    """The model's class map of each window (uint8 arrays), as the extraction maps
    them; with ``sure``, (maps, masks of the pixels where the model is sure)."""
    from .region import NO_OVERVIEWS, predict_window
    maps, sure_masks = [], []
    for n, window in enumerate(windows):
        out = Path(scratch) / f"guard_{n}.tif"
        probability = Path(scratch) / f"guard_{n}_p.tif" if sure else None
        try:
            predict_window(image_path, window, out, model, card, options=NO_OVERVIEWS,
                           probability_path=probability,
                           feedback=feedback.part(100 * n / len(windows),
                                                  100 * (n + 1) / len(windows),
                                                  quiet=True))
            with rasterio.open(out) as ds:
                maps.append(ds.read(1))
            if sure:
                with rasterio.open(probability) as ds:
                    percent = ds.read(1, masked=True)
                sure_masks.append(np.abs(percent.filled(50).astype(np.int16) - 50)
                                  > SURE)
        finally:
            remove_quietly(out)
            if probability:
                remove_quietly(probability)
    return (maps, sure_masks) if sure else maps


def moved_share(base_maps, maps, masks, only=None) -> float | None:
    """Share of the pixels valid in both (and in ``masks``) whose class differs;
    with ``only`` (masks too), counting changes only there."""
    changed = valid = 0
    for n, (a, b, away) in enumerate(zip(base_maps, maps, masks)):
        both = (a != NODATA) & (b != NODATA) & away
        counted = both if only is None else both & only[n]
        changed += int((counted & (a != b)).sum())
        valid += int(both.sum())
    return changed / valid if valid else None


def class_share(maps, masks, value: int) -> float | None:
    """Share of the pixels valid in ``maps`` and in ``masks`` mapped ``value``."""
    hit = total = 0
    for m, away in zip(maps, masks):
        counted = (m != NODATA) & away
        hit += int((counted & (m == value)).sum())
        total += int(counted.sum())
    return hit / total if total else None


def measure(base_maps, base_sure, maps, masks) -> dict:
    """How a candidate's map differs from the base's away from the marks: the share
    that changed class (all of it, and where the base was sure), and the share mapped
    green, which says which way it moved (stricter or greener than the base)."""
    return {"moved": moved_share(base_maps, maps, masks),
            "moved_sure": moved_share(base_maps, maps, masks, only=base_sure),
            "green": class_share(maps, masks, GREEN)}


def decide(before: dict | None, candidates: list, max_moved: float,
           accept: str = "if better", max_moved_sure: float | None = None,
           min_gain: float = 0.0, max_source_drop: float | None = None,
           base_source_f1: float | None = None) -> Decision:
    """The candidate to write, or the base. ``before``: the base's held-out scores
    (None without a hold-out). ``max_moved`` bounds the share of the pixels away
    from the marks that change class, ``max_moved_sure`` the share of them that change
    where the base was sure, ``max_source_drop`` how far F1 on the labelled source
    sample may fall below the base's ``base_source_f1``; ``min_gain`` is the held-out
    F1 rise over the base that counts as better."""
    base_f1 = (before or {}).get("f1") or 0.0

    def breaks(c) -> list:  # the allowances c is outside of, as the log says them
        out = []
        if c.moved is not None and c.moved > max_moved:
            out.append(f"changes {100 * c.moved:.1f} % of the map away from the marks "
                       f"(allowed {100 * max_moved:.0f} %)")
        if max_moved_sure is not None and c.moved_sure is not None and \
                c.moved_sure > max_moved_sure:
            out.append(f"changes {100 * c.moved_sure:.2f} % of it where the base model "
                       f"was sure (allowed {100 * max_moved_sure:.1f} %): the marks may "
                       "disagree with what the imagery shows there")
        if max_source_drop is not None and c.source_f1 is not None and \
                base_source_f1 is not None and \
                round(base_source_f1 - c.source_f1, 9) > max_source_drop:
            out.append(f"maps the labelled source sample worse (F1 {base_source_f1:.3f} "
                       f"-> {c.source_f1:.3f}, allowed a fall of {max_source_drop:.3f}): "
                       "the marks teach what labelled imagery elsewhere contradicts")
        return out

    def gains(c):  # rounded: a rise of exactly min_gain counts
        return c.f1 is not None and round(c.f1 - base_f1, 9) >= max(min_gain, 1e-9)

    within = [c for c in candidates if not breaks(c)]
    scored = [c for c in candidates if c.f1 is not None]
    best = max(scored, key=lambda c: (c.f1, -c.alpha)) if scored else None
    best_within = max((c for c in within if c.f1 is not None),
                      key=lambda c: (c.f1, -c.alpha), default=None)
    if accept == "always":
        chosen = best or max(candidates, key=lambda c: c.alpha)
        return Decision(True, chosen, best or chosen, "accepted as asked (accept: "
                        "always), without the check", candidates)
    if before is None or best is None:
        return Decision(False, None, best, "no held-out marks to check the result "
                        "against: mark at least 4 polygons, 2 of each class, spread "
                        "over the raster", candidates)
    if best_within is None:
        nearest = min(candidates, key=lambda c: c.alpha)
        return Decision(False, None, best, "every candidate is outside the check's "
                        f"allowances; the nearest to the base (mix {nearest.alpha:g}) "
                        + ("; it ".join(breaks(nearest)) or "has no held-out score"),
                        candidates)
    if not gains(best_within):
        enough = f" by at least {min_gain:.2f}" if min_gain > 0 else ""
        return Decision(False, None, best, f"held-out F1 did not rise{enough}: base "
                        f"{base_f1:.3f}, best candidate {best_within.f1:.3f}",
                        candidates)
    chosen = max((c for c in within if gains(c)), key=lambda c: c.alpha)
    moved = "" if chosen.moved is None else \
        f", {100 * chosen.moved:.1f} % of the map away from the marks changed"
    if chosen.moved_sure is not None:
        moved += f" ({100 * chosen.moved_sure:.2f} % where the base was sure)"
    if chosen.source_f1 is not None and base_source_f1 is not None:
        moved += (f", F1 on the labelled source sample {base_source_f1:.3f} -> "
                  f"{chosen.source_f1:.3f}")
    return Decision(True, chosen, best, f"held-out F1 {base_f1:.3f} -> "
                    f"{chosen.f1:.3f} (mix {chosen.alpha:g}){moved}", candidates)
