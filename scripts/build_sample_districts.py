"""Districts and buildings for the sample scene's indicators demo (run once; the
files are in resources/sample/):

- valencia_districts.gpkg: five districts drawn by hand on the scene, roughly along
  its main streets and the Turia gardens (illustrative, not administrative
  boundaries): a straight-sided split of the 1 m grid, in ETRS89 / UTM 30N.
- valencia_buildings.gpkg: one point per building for the buildings sampled at
  random and labelled 'roof' by eye in valencia_labelled_points.geojson (see
  scripts/valencia_points.py): a random sample of the scene's buildings, not all.

    .venv/bin/python scripts/build_sample_districts.py
"""
import json
from pathlib import Path

import rasterio
from osgeo import ogr, osr

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "resources" / "sample"
# (name, [(col, row), ...]) on the scene's 1 m grid.
DISTRICTS = (
    ("Nord-oest", [(0, 0), (850, 0), (850, 580), (0, 580)]),
    ("Nord-est", [(850, 0), (1718, 0), (1718, 620), (850, 620), (850, 580)]),
    ("Viveros", [(0, 580), (850, 580), (850, 1180), (0, 1200)]),
    ("Est", [(850, 580), (850, 620), (1718, 620), (1718, 1140), (850, 1180)]),
    ("Sud", [(0, 1200), (850, 1180), (1718, 1140), (1718, 1710), (0, 1710)]),
)


def _layer(path, name, geometry_type, fields):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(25830)
    Path(path).unlink(missing_ok=True)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer(name, srs, geometry_type)
    for field, kind in fields:
        layer.CreateField(ogr.FieldDefn(field, kind))
    return ds, layer


def main():
    with rasterio.open(SAMPLE / "valencia_sample.tif") as scene:
        transform = scene.transform
    ds, layer = _layer(SAMPLE / "valencia_districts.gpkg", "districts", ogr.wkbPolygon,
                       [("name", ogr.OFTString)])
    for name, ring in DISTRICTS:
        coords = [transform * (c, r) for c, r in ring + [ring[0]]]
        wkt = "POLYGON ((" + ", ".join(f"{x:.1f} {y:.1f}" for x, y in coords) + "))"
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        feature.SetField("name", name)
        layer.CreateFeature(feature)
    ds = None
    points = json.loads((SAMPLE / "valencia_labelled_points.geojson").read_text())
    ds, layer = _layer(SAMPLE / "valencia_buildings.gpkg", "buildings", ogr.wkbPoint,
                       [("point_id", ogr.OFTInteger)])
    roofs = [f for f in points["features"] if f["properties"]["kind"] == "roof"]
    for f in roofs:
        x, y = f["geometry"]["coordinates"]
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        feature.SetField("point_id", f["properties"]["id"])
        layer.CreateFeature(feature)
    ds = None
    print(f"{len(DISTRICTS)} districts, {len(roofs)} buildings")


if __name__ == "__main__":
    main()
