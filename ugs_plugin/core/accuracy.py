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

GREEN, OTHER, NODATA = 1, 0, 255


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

class ReferenceDataError(ValueError):
    """The reference data cannot be used as given; the message says why."""


def assess_polygons(map_path, shapes, block: int = 1024) -> ConfusionMatrix:
    """Confusion matrix of a class raster against reference polygons.

    ``shapes`` is a list of (geometry, reference class 0/1) in the map's CRS. The
    polygons are burnt window by window; pixels covered by polygons of both classes
    are a conflict and raise an error, since any choice would be a silent guess.
    """
    import rasterio
    from rasterio.features import rasterize
    from rasterio.windows import Window, bounds as window_bounds

    if not shapes:
        raise ReferenceDataError("the reference layer has no polygons with a class")
    boxes = np.array([g.bounds for g, _ in shapes])
    cm = ConfusionMatrix()
    with rasterio.open(map_path) as src:
        for row in range(0, src.height, block):
            for col in range(0, src.width, block):
                window = Window(col, row, min(block, src.width - col),
                                min(block, src.height - row))
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
                cm.add(src.read(1, window=window), reference)
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
