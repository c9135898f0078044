"""A small real frame grid cut from the sample scene: one GeoTIFF per frame, a grid
GeoPackage (fields ``frame`` and ``image``, relative paths), and a boundary polygon
over the left columns. Used by the tests and for a demo city run:

    .venv/bin/python scripts/build_frame_grid.py demo_output/city --frame 512 --cols 3 --rows 3
    qgis_process.bin run ugs:extractframegrid -- GRID=demo_output/city/grid.gpkg \
        IMAGE_FIELD=image ID_FIELD=frame IMAGES_FOLDER=demo_output/city/images \
        BOUNDARY=demo_output/city/boundary.geojson OUTPUT_FOLDER=demo_output/city/maps
"""
import argparse
import json
from pathlib import Path

import rasterio
from osgeo import ogr, osr
from rasterio.windows import Window

SCENE = Path(__file__).resolve().parent.parent / "resources" / "sample" / \
    "valencia_sample.tif"


def build_frame_grid(root, frame=256, cols=3, rows=2, missing=None, boundary_cols=2,
                     inset=10.0):
    """Returns (grid path, images folder, boundary path). ``missing``: a frame id
    whose image is left out (a frame that must fail)."""
    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    grid_path = root / "grid.gpkg"
    if grid_path.exists():
        grid_path.unlink()
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(grid_path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(25830)
    layer = ds.CreateLayer("frames", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("frame", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("image", ogr.OFTString))
    with rasterio.open(SCENE) as src:
        if cols * frame > src.width or rows * frame > src.height:
            raise ValueError(f"{cols}x{rows} frames of {frame} px do not fit the "
                             f"{src.width}x{src.height} scene")
        # The scene is JPEG in YCbCr; GDAL 3.10 refuses that photometric with any
        # other compression, so frames are written as plain deflate RGB.
        profile = {k: v for k, v in src.profile.items()
                   if k not in ("photometric", "compress")}
        profile["compress"] = "deflate"
        res = src.transform.a
        for r in range(rows):
            for c in range(cols):
                frame_id = f"r{r}c{c}"
                window = Window(c * frame, r * frame, frame, frame)
                transform = src.window_transform(window)
                if frame_id != missing:
                    profile.update(width=frame, height=frame, transform=transform,
                                   blockxsize=256, blockysize=256)
                    with rasterio.open(images / f"{frame_id}.tif", "w", **profile) as d:
                        d.write(src.read(window=window))
                left, top, size = transform.c, transform.f, frame * res
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for x, y in ((left, top), (left + size, top), (left + size, top - size),
                             (left, top - size), (left, top)):
                    ring.AddPoint_2D(x, y)
                poly = ogr.Geometry(ogr.wkbPolygon)
                poly.AddGeometry(ring)
                feature = ogr.Feature(layer.GetLayerDefn())
                feature.SetField("frame", frame_id)
                feature.SetField("image", f"{frame_id}.tif")
                feature.SetGeometry(poly)
                layer.CreateFeature(feature)
        left, top = src.transform.c, src.transform.f
    ds = None
    boundary = root / "boundary.geojson"
    x0, x1 = left + inset, left + boundary_cols * frame * res - inset
    y0, y1 = top - rows * frame * res + inset, top - inset
    boundary.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25830"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1],
                                                [x0, y0]]]}}]}))
    return grid_path, images, boundary


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--cols", type=int, default=3)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--missing", default=None)
    ap.add_argument("--boundary-cols", type=int, default=2)
    args = ap.parse_args()
    print(build_frame_grid(args.out, args.frame, args.cols, args.rows, args.missing,
                           args.boundary_cols))


if __name__ == "__main__":
    main()
