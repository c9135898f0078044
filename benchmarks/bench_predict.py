"""Mapping speed and accuracy per engine, precision and tile overlap, measured
together in one run on this CPU.

Each candidate (``engine:precision@overlap``, or ``...#MODEL`` for another model
file than --model's) runs in a fresh process (so peak RSS is
its own) and gives:
- speed: MP/s of the whole pipeline (read, scale, forward, blend, write, overviews)
  on a raster mirrored from the sample scene, the bare forward of the same engine on
  real tiles (MP/s of raster pixels, the overlap counted), and the wall time of a
  whole CLI run (``python -m ugs_plugin extract``, start-up included);
- accuracy: F1 on the held-out NAIP cities (Claremont, Palm Springs, mosaicked at
  ~1 m) against NDVI labels at both rules (> 0.1, > 0.2), recall of the human tree
  points, and on the Valencia sample scene the labelled points' F1 (with how many
  points changed class against the first candidate) and the share of the public park
  polygons mapped green;
- seams: on the speed raster, the share of pixels whose class differs from a map
  made with half-tile overlap (the seams' only cause is the overlap).

The first candidate is the reference (fp32, today's default); a candidate passes
when every F1 is within 0.005 of it. The CPU family (engines.cpu_family) is printed:
keep the choice per family in config.CPU_DEFAULTS.

    .venv/bin/python benchmarks/bench_predict.py
    .venv/bin/python benchmarks/bench_predict.py --candidates onnxruntime:fp32@64,openvino:int8@32
    .venv/bin/python benchmarks/bench_predict.py --candidates \
        onnxruntime:fp32@64,openvino:int8@32,openvino:int8@32#models/ugsnet_lean.pt
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
sys.path.insert(0, str(REPO / "scripts"))
SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"
DEFAULT_CANDIDATES = ("onnxruntime:fp32@64,torch:fp32@64,openvino:fp32@64,"
                      "openvino:bf16@64,onnxruntime:int8@64,openvino:int8@64,"
                      "onnxruntime:fp32@32,openvino:int8@32,openvino:int8@16")
MARGIN = 0.005


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


def make_naip_sets(folder):
    """Per held-out city: a ~1 m RGB mosaic of its crops, its NDVI labels at both
    rules and its tree points' pixels (written once, read by every worker)."""
    import numpy as np
    import naip_eval
    import rasterio
    from rasterio.transform import from_origin
    cols = 10
    for city in naip_eval.VAL_CITIES:
        samples = naip_eval.load_city(city)
        tiles = [np.clip(naip_eval.resample(s.image, "bilinear"), 0, 255).round()
                 .astype(np.uint8) for s in samples]
        side = tiles[0].shape[1]
        rows = -(-len(tiles) // cols)
        image = np.zeros((3, rows * side, cols * side), np.uint8)
        labels = {rule: np.full(image.shape[1:], 255, np.uint8) for rule in (0.1, 0.2)}
        trees = []
        for i, (tile, s) in enumerate(zip(tiles, samples)):
            r, c = divmod(i, cols)
            y, x = r * side, c * side
            image[:, y:y + side, x:x + side] = tile
            for rule in labels:
                label = naip_eval.label_from_ndvi(s.ndvi, rule)
                labels[rule][y:y + side, x:x + side] = \
                    naip_eval.resample(label, "nearest")[0, :side, :side]
            for tr, tc in s.trees:
                trees.append((y + min(side - 1, int(tr * naip_eval.USER_SCENE_SCALE)),
                              x + min(side - 1, int(tc * naip_eval.USER_SCENE_SCALE))))
        with rasterio.open(Path(folder) / f"{city}.tif", "w", driver="GTiff",
                           width=image.shape[2], height=image.shape[1], count=3,
                           dtype="uint8", crs="EPSG:26911",
                           transform=from_origin(500000.0, 3700000.0, 1.0, 1.0)) as dst:
            dst.write(image)
        np.savez_compressed(Path(folder) / f"{city}_labels.npz", ndvi01=labels[0.1],
                            ndvi02=labels[0.2], trees=np.array(trees, int).reshape(-1, 2))


def quality(engine, card, folder, tile, overlap):
    """Held-out figures of one engine (module docstring)."""
    import numpy as np
    import naip_eval
    import rasterio
    from bench_quality import valencia
    from ugs_plugin.core.config import PredictOptions
    from ugs_plugin.core.learning.train import binary_counts, scores
    from ugs_plugin.core.mapping.predict import predict_raster
    opts = PredictOptions(tile_size=tile, overlap=overlap)
    totals = {0.1: np.zeros(4, np.int64), 0.2: np.zeros(4, np.int64)}
    hit = trees = 0
    for city in naip_eval.VAL_CITIES:
        out = Path(folder) / f"{city}_map_{os.getpid()}.tif"
        predict_raster(Path(folder) / f"{city}.tif", out, engine, card, options=opts)
        with rasterio.open(out) as ds:
            mapped = ds.read(1)
        labels = np.load(Path(folder) / f"{city}_labels.npz")
        totals[0.1] += binary_counts(mapped, labels["ndvi01"])
        totals[0.2] += binary_counts(mapped, labels["ndvi02"])
        points = labels["trees"]
        hit += int(mapped[points[:, 0], points[:, 1]].sum())
        trees += len(points)
    out = Path(folder) / f"valencia_map_{os.getpid()}.tif"
    predict_raster(SCENE, out, engine, card, options=opts)
    figures = valencia(out)
    points = json.loads((SCENE.parent / "valencia_labelled_points.geojson").read_text())
    coords = [tuple(f["geometry"]["coordinates"]) for f in points["features"]
              if f["properties"]["green"] is not None]
    with rasterio.open(out) as ds:
        point_classes = [int(v[0]) for v in ds.sample(coords)]
    return {"f1_ndvi01": scores(*totals[0.1])["f1"],
            "f1_ndvi02": scores(*totals[0.2])["f1"],
            "tree_recall": hit / trees,
            "valencia_points_f1": figures["points"]["f1"],
            "valencia_point_classes": point_classes,
            "valencia_parks_green": figures["inside_parks_green"]}


def seams(engine, card, raster, mapped, tile, folder):
    """Share of pixels whose class differs from the half-tile-overlap map."""
    import rasterio
    from ugs_plugin.core.config import PredictOptions
    from ugs_plugin.core.mapping.predict import predict_raster
    ideal = Path(folder) / f"ideal_{os.getpid()}.tif"
    predict_raster(raster, ideal, engine, card,
                   options=PredictOptions(tile_size=tile, overlap=tile // 2,
                                          overviews=False))
    with rasterio.open(ideal) as a, rasterio.open(mapped) as b:
        return float((a.read(1) != b.read(1)).mean())


def worker(candidate, raster, folder, args):
    import rasterio
    from rasterio.windows import Window
    from ugs_plugin.core.config import PredictOptions
    from ugs_plugin.core.mapping.imagery import BandPlanReader
    from ugs_plugin.core.mapping.predict import predict_raster
    from ugs_plugin.core.mapping.tiling import tile_origins
    from ugs_plugin.core.model.engines import load_engine
    engine_name, precision, overlap, path = parse(candidate, args.model)
    tile, batch = args.tile, args.batch
    engine, card = load_engine(path, args.device, engine_name, precision=precision,
                               tile=tile)
    opts = PredictOptions(tile_size=tile, overlap=overlap, batch_size=batch)
    # Engine start-up (compilation, memory planning) out of the timing: a tile first.
    warm = Path(folder) / f"warm_{os.getpid()}.tif"
    with rasterio.open(raster) as src:
        window = Window(0, 0, min(tile, src.width), min(tile, src.height))
        profile = dict(src.profile, width=window.width, height=window.height,
                       transform=src.window_transform(window))
        with rasterio.open(warm, "w", **profile) as dst:
            dst.write(src.read(window=window))
    predict_raster(warm, Path(folder) / f"warm_map_{os.getpid()}.tif", engine, card,
                   options=opts)
    mapped = Path(folder) / f"map_{os.getpid()}.tif"
    summary = predict_raster(raster, mapped, engine, card, options=opts)
    with rasterio.open(raster) as src:
        n_tiles = len(tile_origins(src.height, tile, overlap)) * \
            len(tile_origins(src.width, tile, overlap))
        side = min(tile, src.height, src.width)
        reader = BandPlanReader(src, card, (), None, lambda m: None)
        corners = [(x, y) for x in range(0, src.width - side + 1, side)
                   for y in range(0, src.height - side + 1, side)][:max(batch, 8)]
        real = [reader.read(src, Window(x, y, side, side))[0] for x, y in corners]
    engine(real[:batch])
    timed = min(n_tiles, args.forward_tiles)
    t0 = time.perf_counter()
    for start in range(0, timed, batch):
        engine([real[(start + i) % len(real)] for i in range(min(batch, timed - start))])
    per_tile = (time.perf_counter() - t0) / timed
    row = {"candidate": candidate, "engine": engine.name, "precision": engine.precision,
           "described": engine.describe(), "overlap": overlap,
           "pixels": summary["pixels"], "tiles": n_tiles,
           "pipeline_mps": summary["megapixels_per_second"],
           "forward_mps_raster": summary["pixels"] / 1e6 / (per_tile * n_tiles),
           "forward_mps_tiles": side * side / 1e6 / per_tile,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if not args.no_quality:
        row.update(quality(engine, card, folder, tile, overlap))
        row["seams"] = seams(engine, card, raster, mapped, tile, folder)
    print(json.dumps(row))


def parse(candidate, model=None):
    """(engine, precision, overlap, model file or None) of engine:precision@overlap,
    with #MODEL in place of ``model`` where given."""
    candidate, _, own_model = candidate.partition("#")
    engine, _, rest = candidate.partition(":")
    precision, _, overlap = rest.partition("@")
    return engine, precision or "fp32", int(overlap or 64), own_model or model


def cli_run(candidate, raster, folder, args):
    """Wall seconds of a whole CLI extraction, Python's start-up included. "today":
    the checkout given by --today with its own defaults (no engine flags). The device
    is left to the CLI's default (auto), as a user runs it, unless --device names a
    GPU: auto's check for a GPU is part of every user's start-up."""
    command = [sys.executable, "-m", "ugs_plugin", "extract", str(raster),
               str(Path(folder) / "cli_map.tif"), "--quiet"]
    if args.device != "cpu":
        command += ["--device", args.device]
    if candidate != "today":
        engine, precision, overlap, model = parse(candidate, args.model)
        command += ["--engine", engine, "--precision", precision, "--overlap",
                    str(overlap)] + (["--model", model] if model else [])
    elif args.model:
        command += ["--model", args.model]
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=args.today if candidate == "today" else REPO,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"CLI run of {candidate} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default=DEFAULT_CANDIDATES,
                    help="engine:precision@overlap, comma-separated; the first is the "
                    "reference; those whose engine is not installed are skipped")
    ap.add_argument("--side", type=int, default=4096, help="speed raster side (px)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--forward-tiles", type=int, default=24,
                    help="tiles timed for the bare forward (rate x the run's tiles)")
    ap.add_argument("--model", help="model file (default: the bundled one)")
    ap.add_argument("--device", default="cpu", help="cuda: GPU rows (torch:fp16...)")
    ap.add_argument("--no-quality", action="store_true", help="speed only")
    ap.add_argument("--no-cli", action="store_true", help="skip the whole CLI runs")
    ap.add_argument("--today", help="another checkout (e.g. a git worktree of the last "
                    "release) whose CLI, with its own defaults, is timed beside")
    ap.add_argument("--repeat", type=int, default=3,
                    help="whole CLI runs per candidate (median shown)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--worker", nargs=3, metavar=("CANDIDATE", "RASTER", "FOLDER"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args)
        return
    from ugs_plugin.core.model.engines import cpu_family, installed
    candidates = [c for c in args.candidates.split(",") if installed(parse(c)[0])]
    family = cpu_family()
    print(f"CPU family {family}; {os.cpu_count()} CPUs; raster {args.side}²; tile "
          f"{args.tile}, batch {args.batch}")
    print("| candidate | runs as | pipeline MP/s | x ref | CLI run s | x torch CLI | bare "
          "forward MP/s | peak RSS MB | F1 NDVI>0.1 | F1 NDVI>0.2 | tree recall | "
          "Valencia points F1 (changed) | parks green | seams | within 0.005 |")
    print("| --- " * 15 + "|", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ugs_bench_") as tmp:
        raster = Path(tmp) / f"scene_{args.side}.tif"
        make_raster(raster, args.side)
        if not args.no_quality:
            make_naip_sets(tmp)
        for candidate in candidates:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", candidate, str(raster), tmp,
                 "--tile", str(args.tile), "--batch", str(args.batch), "--device",
                 args.device, "--forward-tiles",
                 str(args.forward_tiles)] + (["--model", args.model] if args.model else [])
                + (["--no-quality"] if args.no_quality else []),
                capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{candidate} failed:\n{proc.stderr[-3000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        # Whole CLI runs interleaved over the candidates, the median of each kept:
        # the load of a shared machine drifts over minutes.
        timed = candidates + (["today"] if args.today else [])
        runs = {c: [] for c in timed}
        for _ in range(0 if args.no_cli else args.repeat):
            for candidate in timed:
                runs[candidate].append(cli_run(candidate, raster, tmp, args))
        for row in rows:
            times = sorted(runs[row["candidate"]])
            row["cli_s"] = times[len(times) // 2] if times else None
            row["cli_runs_s"] = times
        for row in rows:
            print(format_row(row, rows), flush=True)
    print(f"# reference: {rows[0]['candidate']}; CLI run: median of {args.repeat} "
          "interleaved runs; x torch CLI: against torch:fp32's whole CLI run; seams: "
          "share of pixels whose class differs from a map with half-tile overlap; "
          f"command: {' '.join(sys.argv)}")
    for row in rows:
        print(f"# {row['candidate']}: {row['described']}")
    if args.today:
        today = sorted(runs["today"])[len(runs["today"]) // 2]
        print(f"# today's release ({args.today}, its defaults): whole CLI run "
              f"{today:.1f} s (runs {', '.join(f'{t:.1f}' for t in sorted(runs['today']))})"
              + "".join(f"; {r['candidate']} {today / r['cli_s']:.2f}x" for r in rows
                        if r.get("cli_s")))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu_family": family, "rows": rows},
                                              indent=1))


def format_row(row, rows):
    ref = rows[0]
    torch_cli = next((r["cli_s"] for r in rows if r["candidate"].startswith("torch:")
                      and r.get("cli_s")), None)
    cells = [row["candidate"], f"{row['engine']} {row['precision']}",
             f"{row['pipeline_mps']:.2f}", f"{row['pipeline_mps'] / ref['pipeline_mps']:.2f}",
             "-" if row.get("cli_s") is None else f"{row['cli_s']:.1f}",
             "-" if not (torch_cli and row.get("cli_s")) else f"{torch_cli / row['cli_s']:.2f}",
             f"{row['forward_mps_raster']:.2f}", f"{row['peak_rss_mb']:.0f}"]
    if "f1_ndvi01" in row:
        keys = ("f1_ndvi01", "f1_ndvi02", "tree_recall")
        changed = sum(a != b for a, b in zip(row["valencia_point_classes"],
                                             ref["valencia_point_classes"]))
        worst = max(abs(row[k] - ref[k]) for k in keys)
        cells += [f"{row[k]:.4f}" for k in keys]
        cells += [f"{row['valencia_points_f1']:.3f} ({changed})",
                  f"{row['valencia_parks_green']:.4f}", f"{row['seams']:.4%}",
                  f"{'yes' if worst <= MARGIN else 'no'} ({worst:.4f})"]
    else:
        cells += ["-"] * 7
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
