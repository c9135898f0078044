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


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def worker(variant, raster, out_dir, args):
    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import Window
    from ugs_plugin.core.model_file import load_model
    from ugs_plugin.core.predict import (PRECISIONS, PredictOptions, TileForward,
                                         predict_raster)
    from ugs_plugin.core.tiling import tile_origins
    from ugs_plugin.core.ugsnet import build_model
    tile, overlap, batch = args.tile, args.overlap, args.batch
    if variant == "light" or args.full_model:
        model, card = load_model(None if variant == "light" else args.full_model,
                                 args.device)
    else:  # speed does not depend on the weights
        model = build_model("full").eval().to(args.device)
        card = {"variant": "full", "tile_size": tile, "name": "full (random weights)"}
    device = next(model.parameters()).device
    opts = PredictOptions(tile_size=tile, overlap=overlap, batch_size=batch,
                          precision=args.precision)
    if device.type == "cuda":  # CUDA context and kernel selection out of the timing
        predict_raster(raster, Path(out_dir) / f"{variant}_warmup.tif", model, card,
                       None, PredictOptions(tile_size=tile, overlap=overlap,
                                            batch_size=batch, overviews=False))
        torch.cuda.reset_peak_memory_stats()
    summary = predict_raster(raster, Path(out_dir) / f"{variant}.tif", model, card,
                             None, opts)
    with rasterio.open(raster) as src:
        n_tiles = len(tile_origins(src.height, tile, overlap)) * \
            len(tile_origins(src.width, tile, overlap))
        side = min(tile, src.height, src.width)
        # Real tiles of the scene, so class agreement between precisions means something.
        real = np.stack([src.read((1, 2, 3), window=Window(x, 0, side, side))
                         for x in range(0, batch * side, side) if x + side <= src.width])
    x_real = torch.from_numpy(real.astype(np.float32) / 127.5 - 1).to(device)
    x = x_real[torch.arange(batch) % len(x_real)]
    forward = {}
    reference = None
    for precision in (["fp32"] + [p for p in PRECISIONS if p != "fp32"]
                      if device.type == "cuda" else ["fp32"]):
        run = TileForward(model, precision)
        run._run(x[:1])  # warm-up
        sync(device)
        t0 = time.perf_counter()
        done = 0
        while done < n_tiles:
            run._run(x[:min(batch, n_tiles - done)])
            done += batch
        sync(device)
        seconds = time.perf_counter() - t0
        classes = (run._run(x) > 0.5).cpu()
        reference = classes if reference is None else reference
        forward[precision] = {
            "seconds": seconds,
            "mps_raster": summary["pixels"] / 1e6 / seconds,
            "mps_tiles": n_tiles * side * side / 1e6 / seconds,
            "class_agreement_vs_fp32": float((classes == reference).float().mean())}
    print(json.dumps({
        "variant": variant, "model": card.get("name"), "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else "cpu"),
        "pixels": summary["pixels"], "tiles": n_tiles, "batch": batch,
        "batch_used": summary["batch_size"], "precision": summary["precision"],
        "pipeline_s": summary["seconds"],
        "pipeline_mps": summary["megapixels_per_second"],
        "forward": forward,
        "forward_s": forward["fp32"]["seconds"],
        "forward_mps_raster": forward["fp32"]["mps_raster"],
        "forward_mps_tiles": forward["fp32"]["mps_tiles"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": (torch.cuda.max_memory_allocated(device) / 2 ** 20
                        if device.type == "cuda" else None),
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                    help="of the pipeline run (the bare forward is timed in each)")
    ap.add_argument("--full-model", help="trained full model (default: random weights)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "RASTER", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args)
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
                     "--batch", str(args.batch), "--device", args.device,
                     "--precision", args.precision]
                    + (["--full-model", args.full_model] if args.full_model else []),
                    capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(f"{variant} {label} failed:\n{proc.stderr[-3000:]}")
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
                for precision, f in row["forward"].items():
                    if precision != "fp32":
                        print(f"      bare forward {precision}: {f['mps_tiles']:.2f} MP/s "
                              f"of tile pixels (x{f['mps_tiles'] / row['forward_mps_tiles']:.2f}"
                              f"), class agreement {f['class_agreement_vs_fp32']:.5f}",
                              flush=True)
    print(f"# {rows[0]['device_name']}, {os.cpu_count()} CPUs, torch threads "
          f"{rows[0]['threads']}, tile {args.tile}, overlap {args.overlap}, batch "
          f"{args.batch}, pipeline precision {args.precision}; command: "
          f"{' '.join(sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
