"""Shared fixtures: real rasters built from ../shared/data, the bundled model, and a
real QGIS application with Processing and this plugin loaded through classFactory."""
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
NAIP = SHARED / "data" / "naip_urban_ca"
SAMPLE_SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"
SAMPLE_REFERENCE = REPO / "resources" / "sample" / "valencia_green_reference.gpkg"
# ONNX graphs exported for other tile sizes go here, not into the user's cache; the
# CLI subprocesses inherit it.
os.environ.setdefault("UGS_CACHE_DIR", tempfile.mkdtemp(prefix="ugs_test_cache_"))
sys.path.insert(0, str(REPO / "scripts"))


def hiding(folder, *modules) -> str:
    """A folder that, first on PYTHONPATH, makes ``modules`` fail to import, as on a
    machine without them (Debian 13's QGIS Python has python3-torch system-wide)."""
    for module in modules:
        package = Path(folder) / module
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ImportError('{module} is hidden by the test')\n")
    return str(folder)


def system_python_has(module) -> bool:
    import subprocess
    return subprocess.run(["/usr/bin/python3", "-c", f"import {module}"],
                          capture_output=True).returncode == 0


def naip_path(name):
    path = NAIP / "images" / f"{name}.tif"
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (CI clones ../shared beside the repo)")
    return path


def write_raster(path, data, crs="EPSG:26911", transform=None, nodata=None, **extra):
    """Write (bands, H, W) ``data`` as a GeoTIFF."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if transform is None:
        transform = rasterio.transform.from_origin(400000, 3700000, 1.0, 1.0)
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
               "count": data.shape[0], "dtype": data.dtype.name, "transform": transform,
               "nodata": nodata, **extra}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return Path(path)


def write_vector(path, features, crs="EPSG:26911", fields=None, geometry=None,
                 name="layer"):
    """A GeoPackage layer of ``features`` [(shapely geometry or WKT, {field: value})]
    in ``crs`` (EPSG code, "EPSG:..." or WKT); ``fields`` {name: int, real or string},
    default an integer ``class``; ``geometry`` the layer's type (default: the first
    feature's, Polygon when there is none; "Unknown" for mixed ones). The one vector
    writer of the tests."""
    from osgeo import ogr, osr
    from shapely import wkt
    if geometry is None:
        first = features[0][0] if features else None
        geometry = ("Polygon" if first is None else
                    (wkt.loads(first) if isinstance(first, str) else first).geom_type)
    kinds = {"int": ogr.OFTInteger, "real": ogr.OFTReal, "string": ogr.OFTString}
    srs = osr.SpatialReference()
    srs.SetFromUserInput(f"EPSG:{crs}" if isinstance(crs, int) else crs)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)  # x, y as shapely
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer(name, srs, getattr(ogr, f"wkb{geometry}"))
    for field, kind in (fields or {"class": "int"}).items():
        layer.CreateField(ogr.FieldDefn(field, kinds[kind]))
    for geom, attrs in features:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(geom) if isinstance(geom, str)
                            else ogr.CreateGeometryFromWkb(geom.wkb))
        for field, value in attrs.items():
            feature.SetField(field, value)
        layer.CreateFeature(feature)
    ds = None  # closes and flushes the file
    return Path(path)


def naip_mosaic(names, cols):
    """Crops side by side (row-major) into one (4, H, W) array."""
    tiles = [rasterio.open(naip_path(n)).read() for n in names]
    rows = [np.concatenate(tiles[i:i + cols], axis=2) for i in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=1)


def write_ugset(root, names):
    """NAIP crops as a training folder in the UGSet layout: images/ (RGB) and masks/
    (NDVI > 0.1 as 0/255, as UGSet stores them)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for name in names:
        with rasterio.open(naip_path(name)) as src:
            bands, transform, crs = src.read(), src.transform, src.crs
        red, nir = bands[0].astype(np.float32), bands[3].astype(np.float32)
        mask = np.where((nir - red) / np.maximum(nir + red, 1e-6) > 0.1, 255, 0)
        write_raster(root / "images" / f"{name}.tif", bands[:3], crs=crs,
                     transform=transform)
        write_raster(root / "masks" / f"{name}.tif", mask.astype(np.uint8), crs=crs,
                     transform=transform)
    return root


@pytest.fixture(scope="session")
def mosaic_512(tmp_path_factory):
    """A real 512 x 512 RGB raster (four Claremont crops, a city the model never saw)."""
    data = naip_mosaic([f"claremont_2020_{i}" for i in (0, 1, 2, 3)], 2)[:3]
    return write_raster(tmp_path_factory.mktemp("mosaic") / "claremont_512.tif", data)


@pytest.fixture(scope="session")
def model_and_card():
    from ugs_plugin.core.model.files import load_model
    return load_model(None, "cpu")


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """QgsApplication + Processing + this plugin, as QGIS loads it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(tmp_path_factory.mktemp("qgis_profile"))
    from qgis.core import QgsApplication
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    spec = importlib.util.spec_from_file_location(
        "ugs_under_test", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["ugs_under_test"] = package
    spec.loader.exec_module(package)
    plugin = package.classFactory(None)  # iface is None, as under qgis_process
    plugin.initProcessing()
    yield app
    plugin.unload()


@pytest.fixture(scope="session")
def processing(qgis_app):
    """QGIS's processing module, after the application and the plugin are loaded."""
    import processing as qgis_processing
    return qgis_processing


def cli(*args, env=None, timeout=600):
    """``python -m ugs_plugin ARGS`` with this test run's Python, from the repo."""
    import subprocess
    return subprocess.run([sys.executable, "-m", "ugs_plugin", *map(str, args)],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def qgis_process_env(tmp_path_factory):
    from qgis_profile import make_profile
    return make_profile(tmp_path_factory.mktemp("qgis_process_profile"))


# Tiers, so a part of the suite can run alone (`make test TIER=core`):
#   core         no QGIS: the engine, the CLI, the installer's logic
#   processing   the real QGIS Processing framework in this process
#   qgis_process qgis_process.bin subprocesses (a fresh profile each)
#   desktop      QGIS's desktop under Xvfb
#   network      installs packages with pip (the dependency installer, end to end)
TIERS = ("core", "processing", "qgis_process", "desktop", "network")


def pytest_configure(config):
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: test tier (see tests/conftest.py)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.get_closest_marker(t) for t in TIERS):
            continue
        if "qgis_process_env" in item.fixturenames:
            item.add_marker("qgis_process")
        elif "qgis_app" in item.fixturenames:
            item.add_marker("processing")
        else:
            item.add_marker("core")
