"""Memory and time of the 3-30-300 indicators on city-sized maps: the sample scene's
class map mirrored into rasters of growing size, 5 x 5 district zones and 20,000
random buildings (the same number at every size, so the memory measured is the
raster's); each size runs in a fresh process, so its peak RSS is its own.

    .venv/bin/python benchmarks/bench_indicators.py [--sizes 4096,16384] [--map M]

--map is a class raster to mirror (default: demo_output/green_space.tif, written by
`make demo`).
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def mirrored(source, path, size, strip=1024):
    """A size x size class raster tiled from ``source`` (mirrored copies), written
    strip by strip."""
    import rasterio
    with rasterio.open(source) as src:
        tile = src.read(1)
        crs, transform = src.crs, src.transform
    th, tw = tile.shape
    block = np.block([[tile, tile[:, ::-1]], [tile[::-1], tile[::-1, ::-1]]])
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8",
                   crs=crs, transform=transform, nodata=255, tiled=True,
                   compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w", **profile) as dst:
        cols = np.arange(size) % (2 * tw)
        for top in range(0, size, strip):
            rows = np.arange(top, min(size, top + strip)) % (2 * th)
            dst.write(block[rows][:, cols][None],
                      window=((top, top + len(rows)), (0, size)))
    return transform


def one_run(map_path, size):
    """Runs in its own process: the indicators for one raster size."""
    import rasterio
    from shapely.geometry import Point, box

    from ugs_plugin.core.feedback import Recording
    from ugs_plugin.core.vectors import VectorLayer
    from ugs_plugin.core.workflows import indicators
    with rasterio.open(map_path) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs.to_wkt()
    step = (right - left) / 5
    zones = VectorLayer("zones", [(box(left + i * step, bottom + j * step,
                                       left + (i + 1) * step, bottom + (j + 1) * step),
                                   {"name": f"{i}-{j}"})
                                  for i in range(5) for j in range(5)], crs, ("name",))
    rng = np.random.default_rng(0)
    n = 20_000
    xs, ys = rng.uniform(left, right, n), rng.uniform(bottom, top, n)
    buildings = VectorLayer("buildings", [(Point(x, y), {}) for x, y in zip(xs, ys)],
                            crs, ())
    t0 = time.perf_counter()
    result = indicators.run(indicators.IndicatorsRequest(
        map=str(map_path), zones=zones, id_field="name", buildings=buildings),
        Recording())
    seconds = time.perf_counter() - t0
    within = sum(z["buildings_within"] for z in result.zones)
    print(json.dumps({"size": size, "megapixels": size * size / 1e6, "buildings": n,
                      "parks": result.parks, "within": within, "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="4096,16384")
    ap.add_argument("--map", default=str(REPO / "demo_output" / "green_space.tif"))
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one_run(args.one[0], int(args.one[1]))
        return
    print("| raster | megapixels | buildings | parks | seconds | MP/s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"map_{size}.tif"
            mirrored(args.map, path, size)
            proc = subprocess.run([sys.executable, __file__, "--one", str(path),
                                   str(size)], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {size}² | {r['megapixels']:.0f} | {r['buildings']:,} | "
                  f"{r['parks']:,} | {r['seconds']:.0f} | "
                  f"{r['megapixels'] / r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |",
                  flush=True)
            path.unlink()
    print(f"# command: {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
