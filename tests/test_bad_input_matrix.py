"""Bad input through both fronts. Each case runs as the CLI (a subprocess) and as
processing.run in the real QGIS, and both must end the same way: a one-line error
that names the problem, with nothing written and a previous output untouched; or
the same result (the same class map, the same warning)."""
from dataclasses import dataclass, field

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from conftest import REPO, cli, naip_mosaic, write_raster, write_vector

PREVIOUS = b"a previous output that a failed run must leave alone"
ORIGIN = (400000.0, 3700000.0)
EXTRACT = "ugs:extracturbangreenspace"



def square(col0, row0, col1, row1, origin=ORIGIN):
    """A polygon over pixel columns/rows of a 1 m raster at ``origin``."""
    x0, y0 = origin
    a, b, c, d = x0 + col0, y0 - row1, x0 + col1, y0 - row0
    return f"POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Every input of the matrix, written once."""
    d = tmp_path_factory.mktemp("matrix")
    img = naip_mosaic(["claremont_2020_7"], 1)[:, :96, :96]  # RGBN uint8
    p = {"dir": d}
    p["rgb"] = write_raster(d / "rgb.tif", img[:3])
    p["no_crs"] = write_raster(d / "no_crs.tif", img[:3], crs=None)
    p["one_band"] = write_raster(d / "one.tif", img[:1])
    p["two_band"] = write_raster(d / "two.tif", img[:2])
    p["five_band"] = write_raster(d / "five.tif", np.concatenate([img, img[:1]]))
    p["uint16"] = write_raster(d / "u16.tif", img[:3].astype("uint16") * 40)
    p["reflectance"] = write_raster(d / "f32.tif", img[:3].astype("float32") / 255)
    p["all_nodata"] = write_raster(d / "nodata.tif", np.zeros((3, 96, 96), "uint8"),
                                   nodata=0)
    p["tiny"] = write_raster(d / "tiny.tif", img[:3, :10, :10])
    p["geographic"] = write_raster(d / "geo.tif", img[:3], crs="EPSG:4326",
                                   transform=from_origin(-117.7, 34.1, 1e-5, 1e-5))
    (d / "dir with spaces").mkdir()
    p["odd_path"] = write_raster(d / "dir with spaces" / "Zürich façade.tif", img[:3])
    big = write_raster(d / "big.tif", np.tile(img[:3], (1, 6, 6)))
    data = big.read_bytes()
    (d / "truncated.tif").write_bytes(data[: len(data) // 2])
    p["truncated"] = d / "truncated.tif"
    (d / "not_raster.tif").write_text("this is not a raster")
    p["not_raster"] = d / "not_raster.tif"
    p["missing"] = d / "missing.tif"
    torch.save({"weights": [1, 2, 3]}, d / "not_state_dict.pt")
    p["not_state_dict"] = d / "not_state_dict.pt"
    model = (REPO / "models" / "ugsnet_light.pt").read_bytes()
    (d / "truncated_model.pt").write_bytes(model[: len(model) // 3])
    p["truncated_model"] = d / "truncated_model.pt"
    p["far"] = write_vector(d / "far.gpkg", [(square(0, 0, 50, 50, (0.0, 0.0)), {})])
    (d / "unreadable.gpkg").write_text("not a GeoPackage")
    p["unreadable"] = d / "unreadable.gpkg"
    p["empty"] = write_vector(d / "empty.gpkg", [])
    # A class map and reference data for the assessment.
    classes = np.zeros((60, 60), "uint8")
    classes[:, :30] = 1
    classes[50:, 50:] = 255
    p["map"] = write_raster(d / "map.tif", classes, nodata=255)
    p["real_field"] = write_vector(
        d / "real.gpkg", [(square(0, 0, 20, 20), {"class": 1.0}),
                          (square(35, 0, 55, 20), {"class": 0.0}),
                          (square(20, 30, 40, 45), {"class": 1.0})],
        fields={"class": "real"})
    p["unexpected"] = write_vector(
        d / "unexpected.gpkg", [(square(0, 0, 20, 20), {"class": "park"})],
        fields={"class": "string"})
    p["no_features"] = write_vector(d / "no_features.gpkg", [])
    p["geo_map"] = write_raster(d / "geo_map.tif", classes, nodata=255, crs="EPSG:4326",
                                transform=from_origin(-117.7, 34.1, 1e-5, 1e-5))
    return p


@dataclass
class Case:
    name: str
    cli: list                      # arguments after "python -m ugs_plugin"
    params: dict                   # processing.run parameters
    error: str = ""                # fragment both fronts' message must hold
    qgis_error: str = ""           # where QGIS itself rejects the input first
    warning: str = ""              # a success with this warning
    alg: str = EXTRACT
    output: str = "OUTPUT"         # the output that must not be written on error
    keep: dict = field(default_factory=dict)


def extract_case(name, image, error="", warning="", qgis_error="", extra=(), params=None,
                 output=None):
    """An extraction: IMAGE -> OUT (``output`` overrides the output path key)."""
    return Case(name, ["extract", image, output or "{out}", *extra],
                {"INPUT": image, "OUTPUT": output or "{out}", **(params or {})},
                error=error, warning=warning, qgis_error=qgis_error)


CASES = [
    extract_case("no_crs", "{no_crs}", "no coordinate reference system"),
    extract_case("one_band", "{one_band}", "band mapping"),
    extract_case("two_band", "{two_band}", "band mapping"),
    extract_case("five_band", "{five_band}", "band mapping"),
    extract_case("uint16", "{uint16}"),
    extract_case("float_reflectance", "{reflectance}"),
    extract_case("all_nodata", "{all_nodata}", warning="no valid pixel"),
    extract_case("ten_by_ten", "{tiny}", "at least 32x32"),
    extract_case("epsg4326", "{geographic}"),
    extract_case("spaces_and_non_ascii", "{odd_path}"),
    extract_case("truncated_tiff", "{truncated}", "truncated or damaged"),
    extract_case("not_a_raster", "{not_raster}", "cannot open", qgis_error="INPUT"),
    extract_case("missing_file", "{missing}", "does not exist", qgis_error="INPUT"),
    extract_case("output_is_input", "{rgb}", "also an input", output="{rgb}"),
    extract_case("unwritable_folder", "{rgb}", "cannot write the output",
                 output="/proc/ugs_matrix/out.tif"),
    extract_case("output_not_tif", "{rgb}", "must end in .tif", output="{dir}/out.png"),
    extract_case("pickle_not_state_dict", "{rgb}", "state_dict",
                 extra=["--model", "{not_state_dict}"],
                 params={"MODEL": "{not_state_dict}"}),
    extract_case("truncated_model", "{rgb}", "not a readable PyTorch model file",
                 extra=["--model", "{truncated_model}"],
                 params={"MODEL": "{truncated_model}"}),
    extract_case("boundary_far_away", "{rgb}", "does not overlap",
                 extra=["--boundary", "{far}"], params={"BOUNDARY": "{far}"}),
    extract_case("boundary_unreadable", "{rgb}", "cannot open", qgis_error="BOUNDARY",
                 extra=["--boundary", "{unreadable}"], params={"BOUNDARY": "{unreadable}"}),
    extract_case("boundary_empty", "{rgb}", "has no features",
                 extra=["--boundary", "{empty}"], params={"BOUNDARY": "{empty}"}),
    extract_case("tile_size_100", "{rgb}", "multiple of 16",
                 extra=["--tile-size", "100"], params={"TILE_SIZE": 100}),
    extract_case("cuda_without_cuda", "{rgb}", "no CUDA GPU",
                 extra=["--device", "cuda"], params={"DEVICE": 2}),
    extract_case("band_missing", "{rgb}", "do not exist", extra=["--bands", "1,2,7"],
                 params={"BANDS": "1,2,7"}),
    Case("reference_real_field", ["assess", "{map}", "{real_field}", "--field", "class",
                                  "--report", "{out}"],
         {"INPUT": "{map}", "REFERENCE": "{real_field}", "FIELD": "class",
          "OUTPUT_TABLE": "TEMPORARY_OUTPUT", "OUTPUT_HTML": "{out}"},
         alg="ugs:assessaccuracy", output="OUTPUT_HTML"),
    Case("reference_unexpected_value", ["assess", "{map}", "{unexpected}", "--field",
                                        "class", "--report", "{out}"],
         {"INPUT": "{map}", "REFERENCE": "{unexpected}", "FIELD": "class",
          "OUTPUT_TABLE": "TEMPORARY_OUTPUT", "OUTPUT_HTML": "{out}"},
         error="neither a green value", alg="ugs:assessaccuracy", output="OUTPUT_HTML"),
    Case("reference_no_features", ["assess", "{map}", "{no_features}", "--field",
                                   "class", "--report", "{out}"],
         {"INPUT": "{map}", "REFERENCE": "{no_features}", "FIELD": "class",
          "OUTPUT_TABLE": "TEMPORARY_OUTPUT", "OUTPUT_HTML": "{out}"},
         error="has no features", alg="ugs:assessaccuracy", output="OUTPUT_HTML"),
    Case("indicators_geographic_map", ["indicators", "{geo_map}", "{real_field}",
                                       "--report", "{out}"],
         {"INPUT": "{geo_map}", "ZONES": "{real_field}", "OUTPUT": "TEMPORARY_OUTPUT",
          "OUTPUT_HTML": "{out}"},
         error="geographic CRS", alg="ugs:greenspaceindicators", output="OUTPUT_HTML"),
    Case("indicators_zones_far_away", ["indicators", "{map}", "{far}", "--report",
                                       "{out}"],
         {"INPUT": "{map}", "ZONES": "{far}", "OUTPUT": "TEMPORARY_OUTPUT",
          "OUTPUT_HTML": "{out}"},
         warning="no zone covers a mapped pixel", alg="ugs:greenspaceindicators",
         output="OUTPUT_HTML"),
    Case("change_image_not_class_map", ["change", "{map}", "{rgb}", "{out}"],
         {"MAP_A": "{map}", "MAP_B": "{rgb}", "OUTPUT": "{out}"},
         error="not a class map", alg="ugs:greenspacechange"),
]


def fill(value, paths):
    return value.format(**{k: str(v) for k, v in paths.items()}) \
        if isinstance(value, str) else value



def run_qgis(processing, case, params):
    """(error message or None, warnings, results) of processing.run."""
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class Collecting(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, message):  # noqa: N802
            self.warnings.append(message)
            super().pushWarning(message)

    feedback = Collecting()
    try:
        results = processing.run(case.alg, params, feedback=feedback)
    except QgsProcessingException as err:
        return str(err), feedback.warnings, None
    return None, feedback.warnings, results


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_fronts_end_the_same_way(processing, inputs, tmp_path, case):
    if case.name == "cuda_without_cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    outcomes = {}
    for front in ("cli", "qgis"):
        out = tmp_path / front / ("report.html" if case.output.endswith("HTML")
                                  else "map.tif")
        out.parent.mkdir()
        paths = dict(inputs, out=out)
        target = fill(case.params[case.output], paths)
        previous = None
        if case.error and target.startswith(str(tmp_path)):
            out.write_bytes(PREVIOUS)
            previous = out
        before = {p: p.read_bytes() for p in inputs.values()
                  if hasattr(p, "is_file") and p.is_file()}
        if front == "cli":
            proc = cli(*(fill(a, paths) for a in case.cli))
            assert "Traceback" not in proc.stderr, proc.stderr
            lines = proc.stderr.strip().splitlines()
            error = lines[-1][len("error: "):] if proc.returncode else None
            if proc.returncode:
                assert proc.returncode == 1 and lines[-1].startswith("error: "), \
                    proc.stderr
            warnings = [line for line in lines if line.startswith("warning: ")]
        else:
            error, warnings, _ = run_qgis(processing, case,
                                          {k: fill(v, paths) for k, v in
                                           case.params.items()})
        # Inputs are never touched, whatever happened.
        assert all(p.read_bytes() == data for p, data in before.items())
        if case.error:
            expected = case.qgis_error if front == "qgis" and case.qgis_error \
                else case.error
            assert error is not None and expected in error, (front, error)
            if front == "qgis" and case.qgis_error:  # QGIS's own two-line layout
                error = error.strip().splitlines()[-1]
            assert "\n" not in error.strip(), (front, error)
            if previous is not None:
                assert previous.read_bytes() == PREVIOUS, front
            else:
                assert not out.exists(), front
            assert not list(out.parent.glob("*.part*")), front
        else:
            assert error is None, (front, error)
            if case.warning:
                assert any(case.warning in w for w in warnings), (front, warnings)
            outcomes[front] = out
    if outcomes and case.alg == EXTRACT:
        with rasterio.open(outcomes["cli"]) as a, rasterio.open(outcomes["qgis"]) as b:
            assert np.array_equal(a.read(1), b.read(1))
            assert a.crs == b.crs and a.transform == b.transform
    elif outcomes:
        # The report of both fronts gives the same figures.
        texts = [outcomes[f].read_text(encoding="utf-8") for f in ("cli", "qgis")]
        title = ("Accuracy of the green-space map" if case.alg == "ugs:assessaccuracy"
                 else "Green-space indicators by zone")
        assert all(title in t for t in texts)


def test_real_class_field_gives_the_same_metrics_in_both_fronts(processing, inputs):
    import json
    proc = cli("assess", inputs["map"], inputs["real_field"], "--field", "class",
               "--json")
    assert proc.returncode == 0, proc.stderr
    from_cli = json.loads(proc.stdout)
    results = processing.run("ugs:assessaccuracy", {
        "INPUT": str(inputs["map"]), "REFERENCE": str(inputs["real_field"]),
        "FIELD": "class", "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        "OUTPUT_HTML": str(inputs["dir"] / "real.html")})
    # Map: columns 0-29 green. Reference: 20x20 green on green (400 tp), 20x20 other
    # on other (400 tn), 20x15 green half on green (150 tp), half on other (150 fn).
    assert from_cli["confusion_matrix"] == [[400, 0], [150, 550]]
    assert results["N"] == from_cli["n"] == 1100
    for key, name in (("OVERALL_ACCURACY", "overall_accuracy"), ("F1", "f1"),
                      ("PRECISION", "precision"), ("RECALL", "recall"),
                      ("KAPPA", "kappa")):
        assert results[key] == pytest.approx(from_cli[name])


def cancel_after(percent):
    from qgis.core import QgsProcessingFeedback
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(
        lambda p: feedback.cancel() if p >= percent else None)
    return feedback


def test_cancelled_statistics_write_no_layer_and_report_cancelled(processing, inputs,
                                                                   tmp_path):
    from qgis.core import QgsProcessingException
    zones = write_vector(tmp_path / "zones.gpkg", [
        (square(c, r, c + 20, r + 20), {"class": 0}) for r in (0, 20, 40)
        for c in (0, 20, 40)])
    out = tmp_path / "zones_out.gpkg"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run("ugs:greenspacestatistics", {
            "INPUT": str(inputs["map"]), "ZONES": str(zones), "OUTPUT": str(out)},
            feedback=cancel_after(30))
    assert not out.exists()
    # Not cancelled, the same run writes all nine zones.
    processing.run("ugs:greenspacestatistics", {
        "INPUT": str(inputs["map"]), "ZONES": str(zones), "OUTPUT": str(out)})
    from osgeo import ogr
    ds = ogr.Open(str(out))  # the layer lives only as long as its dataset
    assert ds.GetLayer(0).GetFeatureCount() == 9


def test_cancelled_sampling_writes_no_points_and_reports_cancelled(processing, inputs,
                                                                    tmp_path):
    from qgis.core import QgsProcessingException
    big = np.zeros((2100, 2100), "uint8")  # several read windows, so cancel lands
    big[:, :700] = 1
    class_map = write_raster(tmp_path / "big_map.tif", big, nodata=255)
    out = tmp_path / "points.gpkg"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run("ugs:stratifiedsample", {
            "INPUT": str(class_map), "N_GREEN": 5, "N_OTHER": 5, "OUTPUT": str(out)},
            feedback=cancel_after(20))
    assert not out.exists()
    # The same request through the CLI front writes the sample.
    proc = cli("sample", class_map, out, "--points-green", "5", "--points-other", "5",
               "--json")
    assert proc.returncode == 0, proc.stderr
    from osgeo import ogr
    ds = ogr.Open(str(out))
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() == 10
    assert {f.GetField("stratum") for f in layer} == {0, 1}


def test_cancel_in_core_raises_cancelled_for_every_long_use_case(inputs, tmp_path):
    """The same use cases, called as a library: a feedback that says cancelled stops
    them with Cancelled and nothing is written."""
    from ugs_plugin.cli.vector_io import read_layer
    from ugs_plugin.core.errors import Cancelled
    from ugs_plugin.core.feedback import Recording
    from ugs_plugin.core.workflows import extract, mask, sampling, statistics
    zones = write_vector(tmp_path / "z.gpkg", [(square(0, 0, 30, 30), {"class": 0}),
                                               (square(30, 0, 60, 30), {"class": 0})])
    runs = [
        (statistics, statistics.StatisticsRequest(str(inputs["map"]), read_layer(zones)),
         None),
        (sampling, sampling.SampleRequest(str(inputs["map"]), points_green=3,
                                          points_other=3), None),
        (extract, extract.ExtractRequest(str(inputs["rgb"]), str(tmp_path / "e.tif")),
         tmp_path / "e.tif"),
        (mask, mask.MaskRequest(str(inputs["rgb"]), str(tmp_path / "m.tif"),
                                read_layer(zones)), tmp_path / "m.tif"),
    ]
    for use_case, request, output in runs:
        with pytest.raises(Cancelled):
            use_case.run(request, Recording(cancel_after_progress=0.0))
        if output is not None:
            assert not output.exists() and not list(tmp_path.glob("*.part*"))


def test_cli_progress_lines_end_with_newlines(inputs, tmp_path):
    """Not a terminal: one plain line per step of progress, never run together."""
    proc = cli("extract", inputs["rgb"], tmp_path / "map.tif")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    progress = [line for line in lines if line.strip().endswith("%")]
    assert progress and progress[-1].strip() == "100.0 %"
    assert all(line.count("%") == 1 for line in progress), lines
