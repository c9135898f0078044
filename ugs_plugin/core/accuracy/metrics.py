"""Accuracy of a class map: confusion matrix, metrics and stratified estimators.

Pure numpy. Pixel-wise comparisons (map vs rasterized reference polygons) give a
confusion matrix and the usual metrics. A stratified random sample of points gives
design-based estimates of accuracy and class areas with standard errors (Olofsson
et al. 2014; Stehman 2014, whose estimators also cover strata that are not the map
classes). Undefined values (e.g. precision with nothing mapped green) are None,
never NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import GREEN, NODATA, OTHER
from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT



# ---------------------------------------------------------------- confusion matrix

class ConfusionMatrix:
    """Binary confusion counts accumulated window by window.

    ``matrix`` is [[tn, fp], [fn, tp]]: rows = reference (other, green), columns =
    map (other, green); green is the positive class.
    """

    def __init__(self):
        self.matrix = np.zeros((2, 2), dtype=np.int64)

    def add(self, mapped: np.ndarray, reference: np.ndarray, valid=None):
        """Count pixels where both are 0/1 (and ``valid`` if given)."""
        keep = (np.isin(mapped, (OTHER, GREEN)) & np.isin(reference, (OTHER, GREEN)))
        if valid is not None:
            keep &= valid
        m = mapped[keep].astype(np.int64)
        r = reference[keep].astype(np.int64)
        self.matrix += np.bincount(r * 2 + m, minlength=4).reshape(2, 2)
        return self

    @property
    def total(self) -> int:
        return int(self.matrix.sum())


def _ratio(num, den):
    return float(num) / float(den) if den else None


def binary_metrics(matrix) -> dict:
    """OA, precision (user's acc.), recall (producer's acc.), F1 and IoU of each
    class, and Cohen's kappa, from [[tn, fp], [fn, tp]]."""
    (tn, fp), (fn, tp) = np.asarray(matrix, dtype=np.int64).tolist()
    n = tn + fp + fn + tp
    out = {"n": n, "overall_accuracy": _ratio(tp + tn, n)}
    for name, (t, f_pos, f_neg) in (("green", (tp, fp, fn)), ("other", (tn, fn, fp))):
        out[name] = {
            "precision": _ratio(t, t + f_pos), "recall": _ratio(t, t + f_neg),
            "f1": _ratio(2 * t, 2 * t + f_pos + f_neg),
            "iou": _ratio(t, t + f_pos + f_neg),
            "reference_count": t + f_neg, "map_count": t + f_pos}
    if n:
        expected = ((tn + fp) * (tn + fn) + (fn + tp) * (fp + tp)) / n ** 2
        observed = (tp + tn) / n
        out["kappa"] = None if expected == 1 else (observed - expected) / (1 - expected)
    else:
        out["kappa"] = None
    return out


# ---------------------------------------------------------------- stratified sample

@dataclass
class Estimate:
    value: float | None
    se: float | None

    def ci95(self):
        if self.value is None or self.se is None:
            return None
        return (self.value - 1.96 * self.se, self.value + 1.96 * self.se)


def _stratum_moments(y, x, strata, labels, ddof=1):
    """Per stratum: n_h, means of y and x, variances and covariance."""
    rows = []
    for h in labels:
        sel = strata == h
        n = int(sel.sum())
        yh, xh = y[sel].astype(float), x[sel].astype(float)
        if n > ddof:
            cov = np.cov(np.vstack([yh, xh]), ddof=ddof)
            rows.append((n, yh.mean(), xh.mean(), cov[0, 0], cov[1, 1], cov[0, 1]))
        else:
            mean_y = yh.mean() if n else 0.0
            mean_x = xh.mean() if n else 0.0
            rows.append((n, mean_y, mean_x, 0.0, 0.0, 0.0))
    return rows


def ratio_estimate(y, x, strata, stratum_sizes: dict, fpc: bool = False,
                   ddof: int = 1) -> Estimate:
    """Stehman (2014) combined ratio estimator R = sum(N_h ybar_h) / sum(N_h xbar_h)
    with its variance; x = 1 everywhere gives a proportion.

    ``fpc`` applies the finite population correction (1 - n_h/N_h), negligible for
    pixel populations; the published worked examples omit it. A stratum with a
    single unit contributes no variance (none can be estimated from one unit).
    """
    labels = list(stratum_sizes)
    moments = _stratum_moments(np.asarray(y), np.asarray(x), np.asarray(strata), labels,
                               ddof)
    big_y = sum(stratum_sizes[h] * m[1] for h, m in zip(labels, moments))
    big_x = sum(stratum_sizes[h] * m[2] for h, m in zip(labels, moments))
    if big_x == 0:
        return Estimate(None, None)
    r = big_y / big_x
    var = 0.0
    for h, (n, _, _, syy, sxx, sxy) in zip(labels, moments):
        if n == 0:
            continue
        big_n = stratum_sizes[h]
        correction = (1 - n / big_n) if fpc else 1.0
        var += big_n ** 2 * correction * (syy + r ** 2 * sxx - 2 * r * sxy) / n
    return Estimate(r, float(np.sqrt(var) / big_x))


def stratified_accuracy(strata, mapped, reference, stratum_sizes: dict, classes=None,
                        fpc: bool = False, ua_pa_divisor: str = "n-1") -> dict:
    """Design-based estimates from a stratified random sample.

    ``strata``, ``mapped`` and ``reference`` give each sample unit's stratum, map class
    and reference class; ``stratum_sizes`` the number of pixels N_h of every stratum.
    Returns overall accuracy, and per class user's and producer's accuracy, F1, area
    proportion (with SEs) and the estimated error matrix (area proportions, rows = map,
    columns = reference).

    ``ua_pa_divisor="n"`` computes the user's and producer's accuracy variances with
    the sample variance divided by n_h instead of n_h - 1, as Olofsson et al. (2013)
    did in their published example; the default follows Stehman (2014).
    """
    if ua_pa_divisor not in ("n-1", "n"):
        raise ValueError("ua_pa_divisor must be 'n-1' or 'n'")
    ua_pa_ddof = 1 if ua_pa_divisor == "n-1" else 0
    strata, mapped, reference = (np.asarray(a) for a in (strata, mapped, reference))
    if classes is None:
        classes = sorted(set(mapped.tolist()) | set(reference.tolist()))
    ones = np.ones(len(strata))
    total = float(sum(stratum_sizes.values()))
    out = {"overall_accuracy": ratio_estimate(mapped == reference, ones, strata,
                                              stratum_sizes, fpc),
           "classes": {}, "error_matrix": {}}
    for k in classes:
        hit = (mapped == k) & (reference == k)
        ua = ratio_estimate(hit, mapped == k, strata, stratum_sizes, fpc, ua_pa_ddof)
        pa = ratio_estimate(hit, reference == k, strata, stratum_sizes, fpc, ua_pa_ddof)
        f1 = None
        if ua.value is not None and pa.value is not None and ua.value + pa.value > 0:
            f1 = 2 * ua.value * pa.value / (ua.value + pa.value)
        out["classes"][k] = {
            "users_accuracy": ua, "producers_accuracy": pa, "f1": f1,
            "area_proportion": ratio_estimate(reference == k, ones, strata,
                                              stratum_sizes, fpc)}
        area = out["classes"][k]["area_proportion"]
        out["classes"][k]["area"] = Estimate(
            None if area.value is None else area.value * total,
            None if area.se is None else area.se * total)
    for i in classes:
        out["error_matrix"][i] = {
            j: ratio_estimate((mapped == i) & (reference == j), ones, strata,
                              stratum_sizes, fpc).value for j in classes}
    return out


# ---------------------------------------------------------------- map vs reference

class ReferenceDataError(UgsError):
    """The reference data cannot be used as given; the message says why."""


def assess_polygons(map_path, shapes, block: int = 1024, valid_fn=None) -> ConfusionMatrix:
    """Confusion matrix of a class raster against reference polygons.

    ``shapes`` is a list of (geometry, reference class 0/1) in the map's CRS. The
    polygons are burnt window by window; pixels covered by polygons of both classes
    are a conflict and raise an error, since any choice would be a silent guess.
    """
    import rasterio
    from rasterio.features import rasterize
    from rasterio.windows import bounds as window_bounds

    if not shapes:
        raise ReferenceDataError("the reference layer has no polygons with a class")
    boxes = np.array([g.bounds for g, _ in shapes])
    cm = ConfusionMatrix()
    with rasterio.open(map_path) as src:
        for window in _windows(src, block):
            left, bottom, right, top = window_bounds(window, src.transform)
            hit = ((boxes[:, 0] <= right) & (boxes[:, 2] >= left)
                   & (boxes[:, 1] <= top) & (boxes[:, 3] >= bottom))
            if not hit.any():
                continue
            transform = src.window_transform(window)
            shape = (int(window.height), int(window.width))
            burnt = {}
            for value in (OTHER, GREEN):
                geoms = [shapes[i][0] for i in np.flatnonzero(hit)
                         if shapes[i][1] == value]
                burnt[value] = (rasterize(geoms, out_shape=shape, transform=transform,
                                          dtype="uint8") == 1) if geoms else \
                    np.zeros(shape, bool)
            conflict = burnt[OTHER] & burnt[GREEN]
            if conflict.any():
                x, y = transform * (np.argwhere(conflict)[0][::-1] + 0.5)
                raise ReferenceDataError(
                    f"reference polygons overlap with conflicting classes "
                    f"({int(conflict.sum())} pixels, e.g. at {x:.1f}, {y:.1f}); "
                    "fix the overlap so each place has one class")
            reference = np.full(shape, NODATA, np.uint8)
            reference[burnt[OTHER]] = OTHER
            reference[burnt[GREEN]] = GREEN
            valid = valid_fn(window, transform) if valid_fn else None
            cm.add(src.read(1, window=window), reference, valid)
    if cm.total == 0:
        raise ReferenceDataError("no reference polygon overlaps mapped (non-nodata) pixels "
                              "of the class raster; check that both cover the same area")
    return cm


def assess_points(map_path, points) -> ConfusionMatrix:
    """Confusion matrix at point locations: ``points`` = [(x, y, reference 0/1)]."""
    import rasterio
    with rasterio.open(map_path) as src:
        coords = [(x, y) for x, y, _ in points]
        values = np.array([v[0] for v in src.sample(coords)], dtype=np.int64) \
            if coords else np.zeros(0, np.int64)
        inside = np.array([src.bounds.left <= x < src.bounds.right
                           and src.bounds.bottom < y <= src.bounds.top
                           for x, y in coords], bool)
    reference = np.array([r for _, _, r in points], dtype=np.int64)
    values[~inside] = NODATA
    cm = ConfusionMatrix().add(values, reference)
    if cm.total == 0:
        raise ReferenceDataError("no reference point falls on mapped (non-nodata) pixels")
    return cm


# ---------------------------------------------------------------- sample design

def sample_size(weights: dict, expected_users_accuracy: dict, target_se: float,
                total_pixels: float | None = None) -> int:
    """Total stratified sample size for a target standard error of overall accuracy
    (Cochran 1977, eq. 5.25, as used by Olofsson et al. 2014, eq. 13):
    n = (sum W_i S_i)^2 / (SE^2 + sum W_i S_i^2 / N), S_i = sqrt(U_i (1 - U_i))."""
    if not 0 < target_se < 1:
        raise ValueError("the target standard error must be between 0 and 1")
    s = {k: np.sqrt(u * (1 - u)) for k, u in expected_users_accuracy.items()}
    numerator = sum(weights[k] * s[k] for k in weights) ** 2
    correction = (sum(weights[k] * s[k] ** 2 for k in weights) / total_pixels
                  if total_pixels else 0.0)
    return int(np.ceil(numerator / (target_se ** 2 + correction)))


def allocate(total: int, stratum_sizes: dict, minimum: int) -> dict:
    """Proportional allocation of ``total`` points; strata that would get fewer than
    ``minimum`` get ``minimum`` (or all their pixels) and the rest is shared
    proportionally among the others."""
    sizes = {k: int(v) for k, v in stratum_sizes.items() if v > 0}
    fixed = {}
    while True:
        free = {k: v for k, v in sizes.items() if k not in fixed}
        left = max(0, total - sum(fixed.values()))
        pool = sum(free.values())
        share = {k: left * v / pool for k, v in free.items()} if pool else {}
        low = {k for k, n in share.items() if n < min(minimum, sizes[k])}
        if not low:
            break
        for k in low:
            fixed[k] = min(minimum, sizes[k])
    alloc = dict(fixed)
    alloc.update({k: min(sizes[k], int(round(n))) for k, n in share.items()})
    return alloc


def class_counts(map_path, valid_fn=None, block: int = 1024, *,
                 feedback: Feedback = SILENT) -> dict:
    """Pixels per map class (0 and 1), window by window."""
    import rasterio
    counts = np.zeros(256, np.int64)
    with rasterio.open(map_path) as src:
        for window in _windows(src, block, feedback):
            data = src.read(1, window=window)
            if valid_fn is not None:
                data = np.where(valid_fn(window, src.window_transform(window)), data,
                                NODATA)
            counts += np.bincount(data.ravel(), minlength=256)[:256]
    return {OTHER: int(counts[OTHER]), GREEN: int(counts[GREEN])}


def _windows(src, block, feedback: Feedback = SILENT):
    """Read windows of ``src``, with progress after each and cancellation before."""
    from rasterio.windows import Window

    from ..mapping.tiling import block_windows
    windows = [Window(*b) for b in block_windows(src.width, src.height, block)]
    for i, window in enumerate(windows):
        if feedback.is_cancelled():
            raise Cancelled("cancelled: nothing was written")
        yield window
        feedback.progress(100.0 * (i + 1) / len(windows))


def stratified_points(map_path, per_stratum: dict, seed: int = 0, valid_fn=None,
                      block: int = 1024, counts=None, *, feedback: Feedback = SILENT):
    """Stratified random sample of pixel centres, strata = map classes.

    Ranks are drawn without replacement within each stratum, then found in a
    second windowed pass in raster order, so any raster size works and the same
    seed gives the same points. ``counts`` (of class_counts) saves the first pass.
    Returns (points [(x, y, stratum)], counts N_h).
    """
    import rasterio
    counts = counts or class_counts(map_path, valid_fn, block)
    rng = np.random.default_rng(seed)
    wanted = {}
    for k, n in per_stratum.items():
        if n > counts.get(k, 0):
            raise ValueError(f"stratum {k} has {counts.get(k, 0)} pixels, fewer than "
                             f"the {n} points asked for")
        wanted[k] = np.sort(rng.choice(counts[k], size=n, replace=False)) if n else \
            np.zeros(0, np.int64)
    seen = {k: 0 for k in wanted}
    points = []
    with rasterio.open(map_path) as src:
        for window in _windows(src, block, feedback):
            data = src.read(1, window=window)
            transform = src.window_transform(window)
            if valid_fn is not None:
                data = np.where(valid_fn(window, transform), data, NODATA)
            for k in wanted:
                rows, cols = np.nonzero(data == k)
                lo, hi = seen[k], seen[k] + rows.size
                picks = wanted[k][(wanted[k] >= lo) & (wanted[k] < hi)] - lo
                for r, c in zip(rows[picks], cols[picks]):
                    x, y = transform * (c + 0.5, r + 0.5)
                    points.append((float(x), float(y), int(k)))
                seen[k] = hi
    return points, counts
