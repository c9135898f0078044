"""ugs:maskbyurbanboundary through Processing, against rasterized references."""
import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from shapely.geometry import Polygon, mapping

from conftest import SAMPLE_SCENE, naip_path, write_raster



def polygon_layer(geojson_geom, crs):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer
    from shapely.geometry import shape
    layer = QgsVectorLayer(f"Polygon?crs={crs}", "boundary", "memory")
    f = QgsFeature()
    f.setGeometry(QgsGeometry.fromWkt(shape(geojson_geom).wkt))
    layer.dataProvider().addFeatures([f])
    return layer


def irregular_polygon(bounds):
    """A pentagon over part of the raster whose edges avoid pixel centres."""
    left, bottom, right, top = bounds
    w, h = right - left, top - bottom
    pts = [(0.13, 0.21), (0.71, 0.09), (0.93, 0.57), (0.52, 0.88), (0.17, 0.69)]
    return Polygon([(left + x * w + 0.0137, bottom + y * h + 0.0291) for x, y in pts])


@pytest.mark.parametrize("boundary_crs", ["EPSG:25830", "EPSG:4326"])
def test_mask_matches_rasterized_reference(processing, tmp_path, boundary_crs):
    with rasterio.open(SAMPLE_SCENE) as src:
        poly = irregular_polygon(src.bounds)
        reference = rasterize([mapping(poly)], out_shape=src.shape,
                              transform=src.transform, fill=0, dtype="uint8") == 1
        original = src.read()
    geom = mapping(poly)
    if boundary_crs != "EPSG:25830":
        geom = transform_geom("EPSG:25830", boundary_crs, geom, precision=-1)
    out = tmp_path / "masked.tif"
    processing.run("ugs:maskbyurbanboundary", {
        "INPUT": str(SAMPLE_SCENE), "BOUNDARY": polygon_layer(geom, boundary_crs),
        "OUTPUT": str(out)})
    with rasterio.open(out) as dst:
        assert dst.dtypes == ("uint8",) * 3 and dst.count == 3
        assert dst.nodata is None  # the scene has none: an internal mask instead
        mask = dst.dataset_mask() > 0
        data = dst.read()
    assert np.array_equal(mask, reference)
    assert np.array_equal(data[:, mask], original[:, mask])  # values untouched


def test_nodata_value_and_dtype_are_kept(processing, tmp_path):
    data = (rasterio.open(naip_path("claremont_2020_7")).read().astype(np.uint16) * 8)
    src = write_raster(tmp_path / "u16.tif", data, nodata=65535)
    with rasterio.open(src) as ds:
        poly = Polygon([(ds.bounds.left, ds.bounds.bottom),
                        (ds.bounds.left + 100.3, ds.bounds.bottom),
                        (ds.bounds.left + 100.3, ds.bounds.top),
                        (ds.bounds.left, ds.bounds.top)])
    out = tmp_path / "masked.tif"
    processing.run("ugs:maskbyurbanboundary", {
        "INPUT": str(src), "BOUNDARY": polygon_layer(mapping(poly), "EPSG:26911"),
        "OUTPUT": str(out)})
    with rasterio.open(out) as dst:
        assert dst.dtypes[0] == "uint16" and dst.nodata == 65535 and dst.count == 4
        masked = dst.read()
    assert (masked[:, :, 100:] == 65535).all()
    assert np.array_equal(masked[:, :, :100], data[:, :, :100])


def test_buffer_and_all_touched_grow_the_mask(processing, tmp_path):
    with rasterio.open(SAMPLE_SCENE) as src:
        poly = irregular_polygon(src.bounds)
    layer = polygon_layer(mapping(poly), "EPSG:25830")
    counts = {}
    for name, extra in (("plain", {}), ("touched", {"ALL_TOUCHED": True}),
                        ("buffer", {"BUFFER": 20.0})):
        out = tmp_path / f"{name}.tif"
        processing.run("ugs:maskbyurbanboundary", {
            "INPUT": str(SAMPLE_SCENE), "BOUNDARY": layer, "OUTPUT": str(out), **extra})
        counts[name] = int((rasterio.open(out).dataset_mask() > 0).sum())
    assert counts["plain"] < counts["touched"] < counts["buffer"]
    # A 20 m buffer adds about perimeter x 20 m (1 m pixels).
    assert counts["buffer"] - counts["plain"] == pytest.approx(poly.length * 20, rel=0.05)


def test_boundary_elsewhere_is_an_error(processing, tmp_path):
    from qgis.core import QgsProcessingException
    far = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        processing.run("ugs:maskbyurbanboundary", {
            "INPUT": str(SAMPLE_SCENE), "BOUNDARY": polygon_layer(mapping(far),
                                                                   "EPSG:25830"),
            "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()
