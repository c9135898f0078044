"""A hand-drawn 1 m scene for the planner tests (indicators, change): two parks, a
nodata band, buildings at known distances and a road that goes the long way round.
Every layer is in its own CRS (map UTM 30N, zones and roads WGS 84, buildings Web
Mercator), so each is reprojected on the way in.

Map (EPSG:32630, 1 m pixels, origin X0, Y0 top-left), 500 x 300 px:
- rows 0-9: nodata (255);
- park P1 (0.6 ha): block A rows 100-149 x cols 300-359 and block B rows 150-199 x
  cols 360-419, which touch only at a corner, across a strip border when strips are
  50 rows: one 8-connected patch (two 0.3 ha ones if it were 4-connected);
- patch P2 (0.4 ha): rows 100-199 x cols 20-59;
- zones: west (x < X0 + 250) and east.
"""
import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform_geom
from shapely.geometry import LineString, Point, box, mapping, shape

from ugs_plugin.core.vectors import VectorLayer

X0, Y0 = 500000.0, 4400000.0
MAP_CRS = "EPSG:32630"
TRANSFORM = from_origin(X0, Y0, 1.0, 1.0)
# Building points in map coordinates relative to (X0, Y0), and their straight-line
# distance to P1's edge, worked out by hand.
BUILDINGS = {
    "b1": ((200.5, -120.5), 99.5),                      # west of block A
    "b2": ((20.5, -250.5), (279.5 ** 2 + 100.5 ** 2) ** 0.5),   # 297.02: within 300
    "b3": ((5.5, -20.5), (294.5 ** 2 + 79.5 ** 2) ** 0.5),      # 305.04: outside
    "b4": ((330.5, -250.5), (29.5 ** 2 + 50.5 ** 2) ** 0.5),    # 58.48, to block B
    "b5": ((310.5, -110.5), 0.0),                       # inside block A
}
ZONE_OF = {"b1": "west", "b2": "west", "b3": "west", "b4": "east", "b5": "east"}
# The road from b1 north, east, and south to 5 m from block A's top edge: 305 m
# long, so b1 is 0.71 + 305 + 5 m from P1 along it, though 99.5 m straight.
ROAD = [(200, -120), (200, -20), (330, -20), (330, -95)]
B1_NETWORK = 0.5 ** 0.5 + 305 + 5
# b4 joins the road at its end (330, -95), 155.5 m away, then 5 m into the park.
B4_NETWORK = (0.5 ** 2 + 155.5 ** 2) ** 0.5 + 5


def class_map():
    a = np.zeros((300, 500), np.uint8)
    a[:10] = 255
    a[100:150, 300:360] = 1
    a[150:200, 360:420] = 1
    a[100:200, 20:60] = 1
    return a


def _to(crs, geom):
    return shape(transform_geom(CRS.from_user_input(MAP_CRS), CRS.from_user_input(crs),
                                mapping(geom)))


def absolute(x, y):
    return X0 + x, Y0 + y


def zones_layer():
    west = box(X0, Y0 - 300, X0 + 250, Y0)
    east = box(X0 + 250, Y0 - 300, X0 + 500, Y0)
    return VectorLayer("zones", [(_to("EPSG:4326", west), {"name": "west"}),
                                 (_to("EPSG:4326", east), {"name": "east"})],
                       CRS.from_epsg(4326).to_wkt(), ("name",))


def buildings_layer(population=None):
    features = []
    for name, ((x, y), _) in BUILDINGS.items():
        attrs = {"name": name}
        if population:
            attrs["pop"] = population[name]
        features.append((_to("EPSG:3857", Point(absolute(x, y))), attrs))
    fields = ("name", "pop") if population else ("name",)
    return VectorLayer("buildings", features, CRS.from_epsg(3857).to_wkt(), fields)


def roads_layer():
    line = LineString([absolute(x, y) for x, y in ROAD])
    return VectorLayer("roads", [(_to("EPSG:4326", line), {})],
                       CRS.from_epsg(4326).to_wkt(), ())


def write_gpkg(path, layer):
    """A VectorLayer as a GeoPackage (its own CRS), for the QGIS and CLI fronts."""
    from conftest import write_vector
    return str(write_vector(path, layer.features, layer.crs,
                            {n: "int" if n == "pop" else "string" for n in layer.fields},
                            geometry="Unknown", name=layer.name))
