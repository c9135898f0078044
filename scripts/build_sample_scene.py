"""Build the bundled sample scene from ../shared/data/valencia_pnoa (run once, at
development time; the outputs are committed in resources/sample/).

- valencia_sample.tif: the 15 x 15 XYZ tiles (zoom 18, EPSG:3857) placed by the
  standard tile formula and resampled to ETRS89 / UTM 30N (EPSG:25830) at 1 m.
- valencia_green_reference.gpkg: the green-space masks on the same grid, polygonized
  (field ``class``: 1 = mapped public green space, 0 = other).

    .venv/bin/python scripts/build_sample_scene.py [--data DIR] [--out resources/sample]
"""
import argparse
import glob
import json
import math
import os
import re
import warnings

import numpy as np
import rasterio
from osgeo import ogr, osr
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.transform import from_bounds, from_origin
import rasterio.warp
from rasterio.warp import Resampling, reproject

ZOOM = 18
WEB_MERCATOR_HALF = 20037508.342789244
TARGET_CRS = CRS.from_epsg(25830)
PIXEL = 1.0
# The JPEG tiles carry no georeferencing: we place them ourselves.
warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)

ATTRIBUTION = ("Imagery: PNOA (c) Instituto Geografico Nacional de Espana, CC BY 4.0. "
               "Green-space polygons (c) OpenStreetMap contributors, ODbL 1.0, and "
               "Ajuntament de Valencia open data.")


def xyz_bounds(x, y, z=ZOOM):
    """(left, bottom, right, top) of an XYZ tile in EPSG:3857 metres."""
    size = 2 * WEB_MERCATOR_HALF / 2 ** z
    left = -WEB_MERCATOR_HALF + x * size
    top = WEB_MERCATOR_HALF - y * size
    return left, top - size, left + size, top


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data",
                                                   "valencia_pnoa"))
    ap.add_argument("--out", default=os.path.join(here, "..", "resources", "sample"))
    args = ap.parse_args()
    tiles = {}
    for path in glob.glob(os.path.join(args.data, "images", "*.jpg")):
        x, y = map(int, re.search(r"_(\d+)_(\d+)_18\.jpg$", path).groups())
        tiles[(x, y)] = path
    xs, ys = sorted({k[0] for k in tiles}), sorted({k[1] for k in tiles})
    left, _, _, top = xyz_bounds(xs[0], ys[0])
    _, bottom, right, _ = xyz_bounds(xs[-1], ys[-1])
    merc = CRS.from_epsg(3857)
    # The largest axis-aligned UTM rectangle inside the (slightly rotated) mosaic
    # footprint: every output pixel then has imagery, none is filler.
    xs_, ys_ = rasterio.warp.transform(merc, TARGET_CRS, [left, right, right, left],
                                       [top, top, bottom, bottom])
    tl = math.ceil(max(xs_[0], xs_[3])) + 1
    tr = math.floor(min(xs_[1], xs_[2])) - 1
    tt = math.floor(min(ys_[0], ys_[1])) - 1
    tb = math.ceil(max(ys_[2], ys_[3])) + 1
    width, height = int((tr - tl) / PIXEL), int((tt - tb) / PIXEL)
    dst_transform = from_origin(tl, tt, PIXEL, PIXEL)

    image = np.zeros((3, height, width), np.uint8)
    mask = np.full((height, width), 255, np.uint8)
    for (x, y), path in sorted(tiles.items()):
        with rasterio.open(path) as src:
            data = src.read()
        src_transform = from_bounds(*xyz_bounds(x, y), data.shape[2], data.shape[1])
        for band in range(3):
            reproject(data[band], image[band], src_transform=src_transform,
                      src_crs=merc, dst_transform=dst_transform, dst_crs=TARGET_CRS,
                      resampling=Resampling.cubic, init_dest_nodata=False)
        mask_path = os.path.join(args.data, "masks", os.path.basename(path)
                                 .replace(".jpg", "_MASK.tif"))
        with rasterio.open(mask_path) as msrc:
            reproject(rasterio.band(msrc, 1), mask, dst_transform=dst_transform,
                      dst_crs=TARGET_CRS, resampling=Resampling.nearest, dst_nodata=255,
                      init_dest_nodata=False)
    os.makedirs(args.out, exist_ok=True)
    tif = os.path.join(args.out, "valencia_sample.tif")
    profile = {"driver": "GTiff", "dtype": "uint8", "count": 3, "width": width,
               "height": height, "crs": TARGET_CRS, "transform": dst_transform,
               "tiled": True, "blockxsize": 256, "blockysize": 256,
               "compress": "jpeg", "jpeg_quality": 90, "photometric": "ycbcr"}
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(image)
        dst.update_tags(ATTRIBUTION=ATTRIBUTION,
                        SOURCE="PNOA orthophoto, XYZ zoom 18 tiles, central Valencia")
    print(f"{tif}: {width} x {height} px at {PIXEL} m, EPSG:25830")

    gpkg = os.path.join(args.out, "valencia_green_reference.gpkg")
    if os.path.exists(gpkg):
        os.remove(gpkg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(gpkg)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(25830)
    layer = ds.CreateLayer("green_reference", srs, ogr.wkbMultiPolygon)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    counts = {0: 0, 1: 0}
    layer.StartTransaction()
    for geom, value in shapes(mask, mask=mask != 255, transform=dst_transform):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("class", int(value))
        poly = ogr.ForceToMultiPolygon(ogr.CreateGeometryFromJson(json.dumps(geom)))
        feature.SetGeometry(poly)
        layer.CreateFeature(feature)
        counts[int(value)] += 1
    layer.CommitTransaction()
    ds.ExecuteSQL(f"UPDATE gpkg_contents SET description = '{ATTRIBUTION}' "
                  "WHERE table_name = 'green_reference'")
    ds = None
    green_share = float((mask == 1).sum()) / float((mask != 255).sum())
    print(f"{gpkg}: {counts[1]} green-space and {counts[0]} other polygons; "
          f"green-space share {green_share:.3f}")


if __name__ == "__main__":
    main()
