"""Vector inputs of the workflows: a layer read by a front (QGIS feature source or an
OGR file) in its own CRS, and what the engine needs of it: features reprojected to a
raster's CRS, checked fields, reference classes."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UgsError

OTHER_WORDS = ("0", "other", "non-green", "not green")


@dataclass
class VectorLayer:
    """Features as (shapely geometry or None, {field: value}) in the layer's own CRS
    (WKT, or None when unknown)."""
    name: str
    features: list
    crs: str | None = None
    fields: tuple = ()

    def require_features(self, what: str = "layer"):
        if not self.features:
            raise UgsError(f"the {what} '{self.name}' has no features; digitize or "
                           "select some first")
        if not any(g is not None and not g.is_empty for g, _ in self.features):
            raise UgsError(f"none of the features of the {what} '{self.name}' has a "
                           "geometry")

    def require_fields(self, names, what: str = "layer"):
        for name in names:
            if name and name not in self.fields:
                self.require_features(what)
                raise UgsError(f"the {what} '{self.name}' has no field '{name}'; its "
                               f"fields are: {', '.join(self.fields) or 'none'}")

    def in_crs(self, crs, keep_empty: bool = False) -> list:
        """(geometry, attrs) reprojected to ``crs`` (anything rasterio's CRS accepts;
        None = as they are). Features without a geometry are left out, or kept with
        geometry None when ``keep_empty``."""
        from rasterio.crs import CRS
        from rasterio.warp import transform_geom
        from shapely.geometry import mapping, shape
        rows = [(None if g is None or g.is_empty else g, a) for g, a in self.features]
        if not keep_empty:
            rows = [(g, a) for g, a in rows if g is not None]
        if crs is None or self.crs is None:
            return rows
        source, target = CRS.from_user_input(self.crs), CRS.from_user_input(crs)
        if source == target:
            return rows
        try:
            return [(None if g is None else shape(transform_geom(source, target,
                                                                 mapping(g))), a)
                    for g, a in rows]
        except Exception as err:
            raise UgsError(f"the features of '{self.name}' cannot be reprojected to the "
                           f"raster's CRS: {err}") from None


def reference_classes(layer: VectorLayer, class_field: str, green_values, crs,
                      extra_fields=(), what: str = "reference layer"):
    """((geometry, 0/1, attrs) reprojected to ``crs``, warnings). Class values are
    compared as text (1, 1.0 and ' 1' all match '1'); an unexpected value is an
    error, an empty one a warning."""
    layer.require_features(what)
    layer.require_fields((class_field, *extra_fields), what)
    green = {normalise_class(v) for v in green_values if str(v).strip()} or {"1"}
    out, unexpected, empty, warnings = [], set(), 0, []
    for geom, attrs in layer.in_crs(crs):
        text = normalise_class(attrs.get(class_field))
        if text in ("", "null", "none"):
            empty += 1
        elif text in green:
            out.append((geom, 1, attrs))
        elif text in OTHER_WORDS:
            out.append((geom, 0, attrs))
        else:
            unexpected.add(str(attrs.get(class_field)))
    if unexpected:
        raise UgsError(f"field '{class_field}' of the {what} holds "
                       f"{sorted(unexpected)[:5]}, which is neither a green value "
                       f"({', '.join(sorted(green))}) nor 0/other: list every value "
                       "meaning green space (green values)")
    if empty:
        warnings.append(f"{empty} feature(s) of the {what} have no class in "
                        f"'{class_field}' and were left out")
    if not out:
        raise UgsError(f"no feature of the {what} has a class in '{class_field}'")
    return out, warnings


CHECK_FIELD = "check"   # suggest's check squares carry it; 1: only to check a result
YES_WORDS = ("1", "true", "yes", "y", "t")


def split_checks(shapes, layer: VectorLayer, check_field: str):
    """(marks to train on, check marks) of ``reference_classes``' rows: a check mark
    has a yes value (1, true, yes) in ``check_field``. A layer without the field has
    no check marks when the field is the default name; another name must exist."""
    if not check_field or (check_field == CHECK_FIELD and check_field not in layer.fields):
        return [(g, v) for g, v, _ in shapes], []
    layer.require_fields((check_field,), "reference layer")
    train, checks = [], []
    for geom, value, attrs in shapes:
        (checks if normalise_class(attrs.get(check_field)) in YES_WORDS
         else train).append((geom, value))
    return train, checks


def normalise_class(value) -> str:
    """Class values as text: REAL fields' 1.0 reads as 1."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        text = text[:-2]
    return text


def parse_values(text, default=("1",)) -> tuple:
    """'1, 2,park' -> ('1', '2', 'park')."""
    values = tuple(v.strip() for v in str(text or "").split(",") if v.strip())
    return values or tuple(default)
