"""The fields the workflows add to vector layers (zones, buildings, sample points):
their names, their types, and the check that a layer about to be extended has none
of them yet. Both fronts (Processing's sinks, the CLI's GeoPackages) and the reports
read them here, so a name or a type exists once."""
from __future__ import annotations

from .errors import UgsError

# Green space statistics by zone, with what each holds.
STATISTICS_FIELDS = (("mapped_m2", "mapped area"), ("green_m2", "green-space area"),
                     ("green_ratio", "green coverage ratio"), ("patches", "green patches"),
                     ("patch_mean_m2", "mean patch area"),
                     ("patch_max_m2", "largest patch"),
                     ("green_m2_per_person", "green area per inhabitant"))

# Indicators by zone (3-30-300); the ones a choropleth can show, with their labels.
INDICATORS = {
    "green_cover": "green cover (share of the zone mapped green)",
    "share_within": "share of buildings within the distance of a park",
    "share_residents_within": "share of residents within the distance of a park",
    "mean_distance_m": "mean distance from a building to a park (m)",
    "green_m2_per_resident": "green area per resident (m²)",
}
INDICATOR_ZONE_FIELDS = ("green_cover", "below_cover_target", "green_m2", "mapped_m2",
                         "buildings", "buildings_within", "share_within",
                         "mean_distance_m")
RESIDENT_FIELDS = ("residents", "residents_within", "share_residents_within",
                   "green_m2_per_resident")
BUILDING_FIELDS = ("zone_id", "distance_m", "within")
NETWORK_FIELDS = ("straight_m",)

# Green space change by zone.
CHANGE_ZONE_FIELDS = ("green_a_m2", "green_b_m2", "gain_m2", "loss_m2", "net_m2",
                      "gain_patches", "loss_patches")

# Suggested places to mark: the marking tools fill in ``class``.
SUGGESTION_FIELDS = (("rank", "int"), ("uncertainty", "double"),
                     ("disagreement", "double"), ("check", "int"), ("class", "int"))

# Stratified validation points.
SAMPLE_POINT_FIELDS = (("id", "int"), ("stratum", "int"), ("stratum_pixels", "int64"),
                       ("map_class", "int"), ("class", "int"))

_COUNTS = {"patches", "buildings", "buildings_within", "within", "below_cover_target",
           "gain_patches", "loss_patches"}
_TEXT = {"zone_id"}


def kind(name: str) -> str:
    """The type of an added field: string, int, int64 or double."""
    points = dict(SAMPLE_POINT_FIELDS + SUGGESTION_FIELDS)
    if name in points:
        return points[name]
    return "string" if name in _TEXT else "int" if name in _COUNTS else "double"


def indicator_zone_fields(with_residents: bool) -> tuple:
    return INDICATOR_ZONE_FIELDS + (RESIDENT_FIELDS if with_residents else ())


def building_fields(with_network: bool) -> tuple:
    return BUILDING_FIELDS + (NETWORK_FIELDS if with_network else ())


def check_no_clash(layer, names, what: str) -> None:
    """A clear error when ``layer`` (a VectorLayer, or None) already has one of the
    fields ``names`` that a workflow is about to add."""
    clash = [n for n in names if layer is not None and n in layer.fields]
    if clash:
        raise UgsError(f"the {what} already have a field '{clash[0]}'; rename it first")
