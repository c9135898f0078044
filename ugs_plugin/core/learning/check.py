"""The accept-or-keep check of a fine-tuning round. Candidates are mixes of the base
and the fine-tuned weights (WiSE-FT: alpha 0 is the base, 1 the fine-tuned model);
each is scored on the held-out marks and measured for how far it moves the map away
from every mark. Of the candidates that move the map no more than allowed and beat
the base on the held-out marks, the one furthest from the base is written (a few
held-out marks rank close candidates by chance; the move is what guards the map);
when none does, the base stays."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ..config import NODATA
from ..feedback import Feedback, SILENT
from ..outputs import remove_quietly

ALPHAS = (0.25, 0.5, 0.75, 1.0)
GUARD_SIDE = 192   # px of a window measuring the map's move
GUARD_MARGIN = 24  # px around the marks left out of that measure


@dataclass
class Candidate:
    alpha: float
    scores: dict | None            # held-out scores (holdout_scores), None: no hold-out
    moved: float | None            # share of guard pixels whose class changed

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
                                "moved": c.moved} for c in self.candidates]}


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


def _overlap(a, b) -> bool:
    return not (a.col_off + a.width <= b.col_off or b.col_off + b.width <= a.col_off
                or a.row_off + a.height <= b.row_off or b.row_off + b.height <= a.row_off)


def map_windows(image_path, windows, model, card, scratch, *,
                feedback: Feedback = SILENT) -> list:
    """The model's class map of each window (uint8 arrays), as the extraction maps
    them."""
    from .region import NO_OVERVIEWS, predict_window
    maps = []
    for n, window in enumerate(windows):
        out = Path(scratch) / f"guard_{n}.tif"
        try:
            predict_window(image_path, window, out, model, card, options=NO_OVERVIEWS,
                           feedback=feedback.part(100 * n / len(windows),
                                                  100 * (n + 1) / len(windows),
                                                  quiet=True))
            with rasterio.open(out) as ds:
                maps.append(ds.read(1))
        finally:
            remove_quietly(out)
    return maps


def moved_share(base_maps, maps, masks) -> float | None:
    """Share of the pixels valid in both (and in ``masks``) whose class differs."""
    changed = valid = 0
    for a, b, away in zip(base_maps, maps, masks):
        both = (a != NODATA) & (b != NODATA) & away
        changed += int((both & (a != b)).sum())
        valid += int(both.sum())
    return changed / valid if valid else None


def decide(before: dict | None, candidates: list, max_moved: float,
           accept: str = "if better") -> Decision:
    """The candidate to write, or the base. ``before``: the base's held-out scores
    (None without a hold-out)."""
    within = [c for c in candidates if c.moved is None or c.moved <= max_moved]
    scored = [c for c in candidates if c.f1 is not None]
    best = max(scored, key=lambda c: (c.f1, -c.alpha)) if scored else None
    best_within = max((c for c in within if c.f1 is not None),
                      key=lambda c: (c.f1, -c.alpha), default=None)
    base_f1 = (before or {}).get("f1") or 0.0
    if accept == "always":
        chosen = best or max(candidates, key=lambda c: c.alpha)
        return Decision(True, chosen, best or chosen, "accepted as asked (accept: "
                        "always), without the check", candidates)
    if before is None or best is None:
        return Decision(False, None, best, "no held-out marks to check the result "
                        "against: mark at least 4 polygons, 2 of each class, spread "
                        "over the raster", candidates)
    if best_within is None:
        return Decision(False, None, best, "every candidate changes more than "
                        f"{100 * max_moved:.0f} % of the map away from the marks "
                        f"(least {100 * min(c.moved for c in candidates):.1f} %)",
                        candidates)
    if best_within.f1 <= base_f1:
        return Decision(False, None, best, f"held-out F1 did not rise: base "
                        f"{base_f1:.3f}, best candidate {best_within.f1:.3f}",
                        candidates)
    chosen = max((c for c in within if c.f1 is not None and c.f1 > base_f1),
                 key=lambda c: c.alpha)
    moved = "" if chosen.moved is None else \
        f", {100 * chosen.moved:.1f} % of the map away from the marks changed"
    return Decision(True, chosen, best, f"held-out F1 {base_f1:.3f} -> "
                    f"{chosen.f1:.3f} (mix {chosen.alpha:g}){moved}", candidates)
