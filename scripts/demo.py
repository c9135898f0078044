"""`make demo`: run ugs:extracturbangreenspace through qgis_process.bin on the bundled
sample scene; write the class and probability rasters, a PNG quick-look and a
one-line summary into demo_output/."""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from qgis_profile import REPO, make_profile  # noqa: E402

from ugs_plugin.core.quicklook import write_quicklook  # noqa: E402

SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"


def main():
    out = REPO / "demo_output"
    out.mkdir(exist_ok=True)
    env = make_profile(REPO / "build" / "qgis-profile")
    class_map, probability = out / "green_space.tif", out / "green_probability.tif"
    cmd = ["qgis_process.bin", "--json", "run", "ugs:extracturbangreenspace", "--",
           f"INPUT={SCENE}", f"OUTPUT={class_map}", f"OUTPUT_PROBABILITY={probability}"]
    print("demo:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        sys.exit(f"demo: qgis_process failed (exit {proc.returncode})")
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    quicklook = out / "quicklook.png"
    write_quicklook(SCENE, class_map, quicklook)
    line = (f"green fraction {100 * results['GREEN_FRACTION']:.1f} %, "
            f"{results['MEGAPIXELS_PER_SECOND']:.2f} megapixels/s | {class_map} | "
            f"{probability} | {quicklook}")
    (out / "summary.txt").write_text(line + "\n", encoding="utf-8")
    print(line)


if __name__ == "__main__":
    main()
