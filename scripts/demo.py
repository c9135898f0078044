"""`make demo`: run ugs:extracturbangreenspace through qgis_process.bin on the bundled
sample scene, then ugs:greenspaceindicators on the map for the scene's districts and
buildings; write the class and probability rasters, a PNG quick-look, the districts
with their indicators, the planner report and a one-line summary into demo_output/."""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from qgis_profile import REPO, make_profile  # noqa: E402

from ugs_plugin.core.mapping.quicklook import write_quicklook  # noqa: E402

SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"
DISTRICTS = REPO / "resources" / "sample" / "valencia_districts.gpkg"
BUILDINGS = REPO / "resources" / "sample" / "valencia_buildings.gpkg"


def qgis_process(algorithm, env, **parameters):
    cmd = ["qgis_process.bin", "--json", "run", algorithm, "--",
           *(f"{k}={v}" for k, v in parameters.items())]
    print("demo:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        sys.exit(f"demo: qgis_process failed (exit {proc.returncode})")
    return json.loads(proc.stdout[proc.stdout.index("{"):])["results"]


def main():
    out = REPO / "demo_output"
    out.mkdir(exist_ok=True)
    env = make_profile(REPO / "build" / "qgis-profile")
    class_map, probability = out / "green_space.tif", out / "green_probability.tif"
    results = qgis_process("ugs:extracturbangreenspace", env, INPUT=SCENE,
                           OUTPUT=class_map, OUTPUT_PROBABILITY=probability)
    quicklook = out / "quicklook.png"
    write_quicklook(SCENE, class_map, quicklook)
    districts, report = out / "districts_indicators.gpkg", out / "indicators.html"
    qgis_process("ugs:greenspaceindicators", env, INPUT=class_map, ZONES=DISTRICTS,
                 ID_FIELD="name", BUILDINGS=BUILDINGS, OUTPUT=districts,
                 OUTPUT_BUILDINGS=out / "buildings_access.gpkg", OUTPUT_HTML=report)
    from osgeo import ogr
    source = ogr.Open(str(districts))  # kept open while its features are read
    rows = [f["below_cover_target"] for f in source.GetLayer(0)]
    below = sum(1 for flag in rows if flag)
    line = (f"green fraction {100 * results['GREEN_FRACTION']:.1f} %, "
            f"{results['MEGAPIXELS_PER_SECOND']:.2f} megapixels/s; "
            f"{below} of {len(rows)} districts below 30 % green cover | {class_map} | "
            f"{probability} | {quicklook} | {report}")
    (out / "summary.txt").write_text(line + "\n", encoding="utf-8")
    print(line)


if __name__ == "__main__":
    main()
