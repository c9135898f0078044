"""A stratified random validation sample over a class map (strata = map classes),
sized from a target standard error of overall accuracy (Olofsson et al. 2014)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import GREEN, OTHER
from ..errors import file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from . import spec
from .common import raster_frame, require_file



@dataclass
class SampleRequest:
    map: str
    boundary: VectorLayer | None = None  # sample only inside
    points_green: int = 0          # 0 and 0: sized from target_se
    points_other: int = 0
    target_se: float = 0.01        # of overall accuracy
    expected_ua_green: float = 0.85
    expected_ua_other: float = 0.95
    min_per_stratum: int = 50
    seed: int = 1


OPTIONS = spec.bind(
    SampleRequest,
    spec.Option("points_green", "N_GREEN", "Points in green space (0 = from the "
                "target SE)", minimum=0, flag="--points-green"),
    spec.Option("points_other", "N_OTHER", "Points in other (0 = from the target SE)",
                minimum=0, flag="--points-other"),
    spec.Option("target_se", "TARGET_SE", "Target standard error of overall accuracy",
                "float", minimum=0.001, maximum=0.5),
    spec.Option("expected_ua_green", "UA_GREEN", "Expected user's accuracy, green",
                "float", minimum=0.01, maximum=0.99, advanced=True,
                help="for the sample size"),
    spec.Option("expected_ua_other", "UA_OTHER", "Expected user's accuracy, other",
                "float", minimum=0.01, maximum=0.99, advanced=True,
                help="for the sample size"),
    spec.Option("min_per_stratum", "MIN_PER_STRATUM", "Minimum points per stratum",
                minimum=1, advanced=True),
    spec.Option("seed", "SEED", "Random seed", minimum=0, advanced=True),
)


@dataclass
class SampleResult:
    points: list                   # (x, y, stratum) in the map's CRS
    stratum_pixels: dict           # stratum -> pixels (N_h)
    crs: object                    # rasterio CRS of the map
    sized_from_target: bool


def run(request: SampleRequest, feedback: Feedback = SILENT) -> SampleResult:
    from ..accuracy import metrics as accuracy
    path = require_file(request.map, "class raster")
    if not 0 < request.target_se < 1:
        raise UgsError(f"target standard error {request.target_se} must be between 0 "
                       "and 1")
    with file_errors(path):
        crs, bounds, _ = raster_frame(path)
        boundary = None
        if request.boundary is not None:
            from ..mapping.boundary import polygon_mask
            boundary = polygon_mask(request.boundary, crs, bounds, "boundary")
        feedback.info("Counting pixels per class…")
        counts = accuracy.class_counts(path, boundary, feedback=feedback.part(0, 50))
        total = sum(counts.values())
        if total == 0:
            raise UgsError(f"{path} has no pixels of class 0 or 1"
                           + (" inside the boundary" if boundary else "")
                           + ": is it a green-space class map?")
        asked = {GREEN: request.points_green, OTHER: request.points_other}
        sized = not any(asked.values())
        if sized:
            weights = {k: v / total for k, v in counts.items()}
            n = accuracy.sample_size(weights, {GREEN: request.expected_ua_green,
                                               OTHER: request.expected_ua_other},
                                     request.target_se, total)
            asked = accuracy.allocate(n, counts, request.min_per_stratum)
            feedback.info(f"Sample size {n} for the target standard error; allocation "
                          f"green {asked.get(GREEN, 0)}, other {asked.get(OTHER, 0)}")
        for k, n in asked.items():
            if n > counts.get(k, 0):
                raise UgsError(f"{n} points asked in {'green space' if k else 'other'}, "
                               f"but that stratum has only {counts.get(k, 0)} pixels")
        points, counts = accuracy.stratified_points(
            path, asked, request.seed, boundary, counts=counts,
            feedback=feedback.part(50, 100))
    return SampleResult(points, counts, crs, sized)
