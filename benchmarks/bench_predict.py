"""Speed and memory of the extraction per inference engine: whole pipeline vs bare
forward of the same engine.

For a small and a large raster (built by mirroring the bundled sample scene), the
light and the full model, and each installed engine (ONNX Runtime, OpenVINO fp32 and
bf16, PyTorch), prints megapixels/s of the whole pipeline (read, scale, forward,
blend, write, overviews), of the bare forward of the same engine over the same
number of tiles, their ratio, the peak RSS of the process and the class agreement
with PyTorch fp32 on real tiles. Each case runs in a fresh process so peak RSS
belongs to that case alone.

    .venv/bin/python benchmarks/bench_predict.py
    .venv/bin/python benchmarks/bench_predict.py --variants light --engines onnxruntime,torch
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


def worker(variant, raster, out_dir, args):
    import numpy as np
    import rasterio
    from rasterio.windows import Window
    from ugs_plugin.core.model.engines import installed, load_engine
    from ugs_plugin.core.mapping.imagery import BandPlanReader
    from ugs_plugin.core.config import PredictOptions
    from ugs_plugin.core.mapping.predict import predict_raster
    from ugs_plugin.core.mapping.tiling import tile_origins
    tile, overlap, batch = args.tile, args.overlap, args.batch
    engine_name, _, precision = args.engine.partition(":")
    path = None if variant == "light" else args.full_model
    if variant == "full" and not path:  # speed does not depend on the weights
        path = Path(out_dir) / "full_random.pt"
        if not path.exists():
            from ugs_plugin.core.model.files import save_model
            from ugs_plugin.core.model.ugsnet import build_model
            save_model(build_model("full").eval(), {"name": "full (random weights)",
                                                    "tile_size": tile}, path)
    engine, card = load_engine(path, args.device, engine_name,
                               precision=precision or "fp32", tile=tile)
    opts = PredictOptions(tile_size=tile, overlap=overlap, batch_size=batch)
    # Engine start-up (memory planning, kernel choice) out of the timing, as for the
    # bare forward below: one small run first.
    warm = Path(out_dir) / f"{variant}_{args.engine}_warm.tif"
    with rasterio.open(raster) as src:
        window = Window(0, 0, min(tile, src.width), min(tile, src.height))
        profile = dict(src.profile, width=window.width, height=window.height,
                       transform=src.window_transform(window))
        with rasterio.open(warm, "w", **profile) as dst:
            dst.write(src.read(window=window))
    predict_raster(warm, Path(out_dir) / "warm_map.tif", engine, card, options=opts)
    summary = predict_raster(raster, Path(out_dir) / f"{variant}.tif", engine, card,
                             options=opts)
    with rasterio.open(raster) as src:
        n_tiles = len(tile_origins(src.height, tile, overlap)) * \
            len(tile_origins(src.width, tile, overlap))
        side = min(tile, src.height, src.width)
        reader = BandPlanReader(src, card, (), None, lambda m: None)
        # Real tiles, so the class agreement with PyTorch fp32 means something.
        corners = [(x, y) for x in range(0, src.width - side + 1, side)
                   for y in range(0, src.height - side + 1, side)][:max(batch, 8)]
        real = [reader.read(src, Window(x, y, side, side))[0] for x, y in corners]
    engine(real[:batch])  # warm-up
    timed = min(n_tiles, args.forward_tiles)
    t0 = time.perf_counter()
    for start in range(0, timed, batch):
        engine([real[(start + i) % len(real)] for i in range(min(batch, timed - start))])
    per_tile = (time.perf_counter() - t0) / timed
    forward_s = per_tile * n_tiles
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    agreement = None
    if installed("torch"):
        reference, _ = load_engine(path, "cpu", "torch")
        ours = np.concatenate([engine(real[i:i + batch]) for i in range(0, len(real), batch)])
        theirs = np.concatenate([reference(real[i:i + batch])
                                 for i in range(0, len(real), batch)])
        agreement = float(((ours > 0.5) == (theirs > 0.5)).mean())
    print(json.dumps({
        "variant": variant, "model": card.get("name"), "engine": engine.name,
        "precision": engine.precision, "device": engine.device,
        "pixels": summary["pixels"], "tiles": n_tiles, "batch": batch,
        "pipeline_s": summary["seconds"],
        "pipeline_mps": summary["megapixels_per_second"],
        "forward_s": forward_s,
        "forward_mps_raster": summary["pixels"] / 1e6 / forward_s,
        "forward_mps_tiles": side * side / 1e6 / per_tile,
        "class_agreement_vs_torch_fp32": agreement,
        "peak_rss_mb": peak_rss_mb}))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="light,full")
    ap.add_argument("--engines", default="onnxruntime,openvino,openvino:bf16,torch",
                    help="engine[:precision], comma-separated; missing ones are skipped")
    ap.add_argument("--small", type=int, default=1024)
    ap.add_argument("--large", type=int, default=8192)
    ap.add_argument("--large-full", type=int, default=2048,
                    help="large raster side for the full model (slow on CPU)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--forward-tiles", type=int, default=24,
                    help="tiles timed for the bare forward (rate x the run's tiles)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--full-model", help="trained full model (default: random weights)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--engine", default="onnxruntime", help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "RASTER", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args)
        return
    sys.path.insert(0, str(REPO))
    from ugs_plugin.core.model.engines import installed
    engines = [e for e in args.engines.split(",") if installed(e.partition(":")[0])]
    print("| model | raster | engine | pipeline MP/s | bare forward MP/s | pipeline / "
          "forward | peak RSS MB | class agreement with torch fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    with tempfile.TemporaryDirectory(prefix="ugs_bench_") as tmp:
        rows = []
        for variant in args.variants.split(","):
            large = args.large if variant == "light" else args.large_full
            for label, side in (("small", args.small), ("large", large)):
                raster = Path(tmp) / f"scene_{side}.tif"
                if not raster.exists():
                    make_raster(raster, side)
                for engine in engines:
                    proc = subprocess.run(
                        [sys.executable, __file__, "--worker", variant, str(raster), tmp,
                         "--engine", engine, "--tile", str(args.tile), "--overlap",
                         str(args.overlap), "--batch", str(args.batch), "--device",
                         args.device, "--forward-tiles", str(args.forward_tiles)]
                        + (["--full-model", args.full_model] if args.full_model else []),
                        capture_output=True, text=True)
                    if proc.returncode:
                        sys.exit(f"{variant} {label} {engine} failed:\n"
                                 f"{proc.stderr[-3000:]}")
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    row.update(label=label, side=side)
                    rows.append(row)
                    agree = row["class_agreement_vs_torch_fp32"]
                    print(f"| {variant} | {side}² | {row['engine']} {row['precision']} | "
                          f"{row['pipeline_mps']:.2f} | {row['forward_mps_raster']:.2f} | "
                          f"{row['pipeline_mps'] / row['forward_mps_raster']:.2f} | "
                          f"{row['peak_rss_mb']:.0f} | "
                          f"{'-' if agree is None else f'{agree:.4f}'} |", flush=True)
    print(f"# {os.cpu_count()} CPUs, tile {args.tile}, overlap {args.overlap}, batch "
          f"{args.batch}; bare forward in MP/s of raster pixels (the tiles' overlap "
          f"counted as the pipeline computes it); command: {' '.join(sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
