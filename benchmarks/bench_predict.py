"""Speed and memory of the extraction: whole pipeline vs bare model forward.

For a small and a large raster (built by mirroring the bundled sample scene), and
for the light and the full model, prints megapixels/s of the whole pipeline
(read, scale, forward, blend, write, overviews) and of the bare model forward on
the same number of tiles, and the peak RSS of the process. Each case runs in a
fresh process so peak RSS belongs to that case alone.

    .venv/bin/python benchmarks/bench_predict.py            # all four cases
    .venv/bin/python benchmarks/bench_predict.py --variants light --large 8192
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"


def make_raster(path, side):
    """A side x side RGB GeoTIFF tiled from the sample scene (mirrored), written in
    windows so building it needs little memory."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(SCENE) as src:
        scene = src.read()
        profile = src.profile
    h, w = scene.shape[1:]
    profile.update(width=side, height=side, compress="deflate", photometric="RGB",
                   tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, side, 512):
            rows = min(512, side - y)
            ys = np.arange(y, y + rows)
            ys = np.where((ys // h) % 2 == 0, ys % h, h - 1 - ys % h)
            xs = np.arange(side)
            xs = np.where((xs // w) % 2 == 0, xs % w, w - 1 - xs % w)
            dst.write(scene[:, ys][:, :, xs], window=Window(0, y, side, rows))


def worker(variant, raster, out_dir, tile, overlap, batch):
    import numpy as np
    import torch
    from ugs_plugin.core.model_file import load_model
    from ugs_plugin.core.predict import PredictOptions, predict_raster
    from ugs_plugin.core.tiling import tile_origins
    from ugs_plugin.core.ugsnet import build_model
    if variant == "light":
        model, card = load_model(None, "cpu")
    else:  # speed does not depend on the weights; no full weights ship yet
        model, card = build_model("full").eval(), {"variant": "full", "tile_size": tile,
                                                   "name": "full (random weights)"}
    opts = PredictOptions(tile_size=tile, overlap=overlap, batch_size=batch)
    summary = predict_raster(raster, Path(out_dir) / f"{variant}.tif", model, card,
                             None, opts)
    import rasterio
    with rasterio.open(raster) as src:
        n_tiles = len(tile_origins(src.height, tile, overlap)) * \
            len(tile_origins(src.width, tile, overlap))
        side = min(tile, src.height, src.width)
    x = torch.from_numpy(np.random.default_rng(0).uniform(
        -1, 1, (batch, 3, side, side)).astype(np.float32))
    with torch.inference_mode():
        model(x[:1])  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n_tiles:
            model(x[:min(batch, n_tiles - done)])
            done += batch
        forward_s = time.perf_counter() - t0
    print(json.dumps({
        "variant": variant, "pixels": summary["pixels"], "tiles": n_tiles,
        "pipeline_s": summary["seconds"],
        "pipeline_mps": summary["megapixels_per_second"],
        "forward_s": forward_s,
        "forward_mps_raster": summary["pixels"] / 1e6 / forward_s,
        "forward_mps_tiles": n_tiles * side * side / 1e6 / forward_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="light,full")
    ap.add_argument("--small", type=int, default=1024)
    ap.add_argument("--large", type=int, default=6144)
    ap.add_argument("--large-full", type=int, default=2048,
                    help="large raster side for the full model (slow on CPU)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "RASTER", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args.tile, args.overlap, args.batch)
        return
    with tempfile.TemporaryDirectory(prefix="ugs_bench_") as tmp:
        rows = []
        for variant in args.variants.split(","):
            large = args.large if variant == "light" else args.large_full
            for label, side in (("small", args.small), ("large", large)):
                raster = Path(tmp) / f"scene_{side}.tif"
                if not raster.exists():
                    make_raster(raster, side)
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", variant, str(raster), tmp,
                     "--tile", str(args.tile), "--overlap", str(args.overlap),
                     "--batch", str(args.batch)],
                    capture_output=True, text=True, check=True)
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row.update(label=label, side=side)
                rows.append(row)
                print(f"{variant:5s} {label:5s} {side}x{side}: pipeline "
                      f"{row['pipeline_mps']:.3f} MP/s ({row['pipeline_s']:.1f} s), "
                      f"bare forward {row['forward_mps_raster']:.3f} MP/s of raster "
                      f"({row['forward_mps_tiles']:.3f} MP/s of tile pixels, "
                      f"{row['tiles']} tiles), pipeline/forward "
                      f"{row['pipeline_mps'] / row['forward_mps_raster']:.2f}, "
                      f"peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    print(f"# {os.cpu_count()} CPUs, torch threads {rows[0]['threads']}, tile "
          f"{args.tile}, overlap {args.overlap}, batch {args.batch}; "
          f"command: {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
