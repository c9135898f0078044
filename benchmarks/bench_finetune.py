"""Does fine-tuning on a few digitized polygons help? Before/after figures on labels
the fine-tuning never sees, over seeds (prints a table; not part of the tests).

Valencia (a real shift: PNOA, another continent and sensor): squares drawn on the west
half of the bundled scene plus the hand-digitized negatives there; scored on the east
half against the mapped green-space polygons (see ``valencia``).

Controlled shift (as bench_adapt.py): Palm Springs, held out of the bundled model's
training, every crop given a strong radiometric change (olive, faded, dark). The
first half of the crops, resampled to ~1 m, are mosaicked into one GeoTIFF: the
"user's" raster. On it, K small squares per class are placed where the base model is
wrong (as a user would mark them; where too few such places exist, squares on other
places of that class), with the class of the NDVI pseudo-label under them. The model
is fine-tuned with ``finetune_on_reference`` (held-out polygons scored as in QGIS),
then scored on the *other* half of the crops against NDVI labels and human tree
points, at ~1 m.

    .venv/bin/python benchmarks/bench_finetune.py [--counts 5,10,20] [--seeds 0,1,2]
        [--iterations 300] [--only controlled|valencia] [--json OUT.json]
"""
import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import naip_eval  # noqa: E402
from ugs_plugin.core.config import FinetuneConfig
from ugs_plugin.core.learning.finetune import finetune_on_reference  # noqa: E402
from ugs_plugin.core.model.files import load_model  # noqa: E402
from ugs_plugin.core.learning.train import predict_tiles  # noqa: E402

SCALE, ORIGIN = naip_eval.USER_SCENE_SCALE, naip_eval.USER_SCENE_ORIGIN
resample, user_scene, user_squares = (naip_eval.resample, naip_eval.user_scene,
                                      naip_eval.user_squares)


# Valencia: squares of 24 px drawn by looking at the scene (centres in pixel column,
# row of resources/sample/valencia_sample.tif), all in its west half: tree canopy and
# park vegetation; roofs, a plaza, courts, a street. With the hand-digitized water and
# bare-ground polygons of valencia_hard_negatives.geojson there (the roofs there lie in
# the east half and are scored).
VALENCIA_GREEN = [(330, 1330), (520, 1620), (620, 1560), (400, 1450), (480, 1280),
                  (560, 900), (250, 1250), (760, 1100)]
VALENCIA_OTHER = [(320, 270), (450, 470), (440, 690), (700, 665), (560, 650), (150, 150)]
VALENCIA_SPLIT_COLUMN = 859


def valencia(seeds, cfg):
    """Fine-tune on the west half's squares; score the east half against the mapped
    green-space polygons (inside / outside) and the hand-digitized roofs there."""
    from osgeo import ogr
    from rasterio.features import rasterize
    from shapely import wkb
    from shapely.geometry import box, shape
    sample = REPO / "resources" / "sample"
    scene = sample / "valencia_sample.tif"
    with rasterio.open(scene) as src:
        transform, size = src.transform, src.shape

    def square(col, row, side=24):
        left, top = transform * (col - side // 2, row - side // 2)
        return box(left, top - side, left + side, top)
    negatives = json.loads((sample / "valencia_hard_negatives.geojson").read_text())
    west_edge = (transform * (VALENCIA_SPLIT_COLUMN, 0))[0]
    drawn = [(square(c, r), 1) for c, r in VALENCIA_GREEN] + \
        [(square(c, r), 0) for c, r in VALENCIA_OTHER] + \
        [(shape(f["geometry"]), 0) for f in negatives["features"]
         if shape(f["geometry"]).bounds[2] < west_edge]
    east_roofs = [shape(f["geometry"]) for f in negatives["features"]
                  if shape(f["geometry"]).bounds[0] >= west_edge]
    source = ogr.Open(str(sample / "valencia_green_reference.gpkg"))
    parks = rasterize([(wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())), 1)
                       for f in source.GetLayer(0) if int(f["class"]) == 1],
                      out_shape=size, transform=transform, fill=0, dtype="uint8") == 1
    roofs = rasterize([(g, 1) for g in east_roofs], out_shape=size, transform=transform,
                      fill=0, dtype="uint8") == 1
    east = np.zeros(size, bool)
    east[:, VALENCIA_SPLIT_COLUMN:] = True

    def scores(model_path, tmp):
        from ugs_plugin.core.mapping.predict import predict_raster
        model, card = load_model(model_path, "cpu")
        out = Path(tmp) / "valencia_map.tif"
        predict_raster(scene, out, model, card)
        with rasterio.open(out) as ds:
            green = ds.read(1) == 1
        inside, outside = parks & east, ~parks & east
        tp = (green & inside).sum()
        precision = tp / max(1, (green & east).sum())
        recall = tp / max(1, inside.sum())
        return {"inside": float(green[inside].mean()), "outside": float(green[outside].mean()),
                "park_f1": float(2 * precision * recall / max(1e-9, precision + recall)),
                "roofs": float(green[roofs].mean())}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        before = scores(None, tmp)
        print(f"\nValencia (PNOA): fine-tuned on {len(drawn)} polygons of the west half "
              f"({len(VALENCIA_GREEN)} vegetation), scored on the east half\n  base model: "
              f"parks mapped green {before['inside']:.3f}, rest {before['outside']:.3f}, "
              f"park F1 {before['park_f1']:.3f}, east roofs {before['roofs']:.3f}",
              flush=True)
        for seed in seeds:
            t0 = time.time()
            out = Path(tmp) / f"valencia_{seed}.pt"
            finetune_on_reference(scene, drawn, out, cfg=replace(cfg, seed=seed, holdout=0),
                                  device="cpu")
            after = scores(out, tmp)
            rows.append({"seed": seed, "before": before, "after": after,
                         "seconds": time.time() - t0})
            print(f"  seed {seed}: parks mapped green {after['inside']:.3f}, rest "
                  f"{after['outside']:.3f}, park F1 {after['park_f1']:.3f}, east roofs "
                  f"{after['roofs']:.3f}; {time.time() - t0:.0f} s", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="5,10,20")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--config", default="{}", help="JSON of FinetuneConfig overrides")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--only", choices=("controlled", "valencia"), default=None)
    args = ap.parse_args()
    cfg = FinetuneConfig(**json.loads(args.config))
    if args.iterations:
        cfg = replace(cfg, iterations=args.iterations)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.only == "valencia":
        rows = valencia(seeds, cfg)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
        return
    torch.set_num_threads(2)
    city = naip_eval.load_city("palm_springs")
    shifted = []
    for s in city:
        moved = type(s)(naip_eval.shift(s.image, "olive_dark"), s.mask, s.name, s.group)
        moved.trees = s.trees
        shifted.append(moved)
    half = len(shifted) // 2
    user, scored = shifted[:half], shifted[half:]
    base, card = load_model(None, "cpu")
    before = naip_eval.score(predict_tiles(base, [s.image for s in scored], SCALE), scored)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scene, label, _ = user_scene(user, tmp)
        with rasterio.open(scene) as src:
            image = src.read()
        base_map = predict_tiles(base, [image], 1.0)[0]
        print(f"Controlled shift (Palm Springs, olive_dark): user raster {image.shape[2]}x"
              f"{image.shape[1]} px at ~1 m from {len(user)} crops; scored on {len(scored)} "
              f"other crops ({before['trees']} tree points)\n  base model: F1 "
              f"{before['f1']:.3f} (P {before['precision']:.3f}, R {before['recall']:.3f})"
              f", tree recall {before['tree_recall']:.3f}\n  config: {cfg}", flush=True)
        for count in [int(c) for c in args.counts.split(",")]:
            for seed in seeds:
                rng = np.random.default_rng(seed)
                squares = user_squares(base_map, label, count, rng)
                t0 = time.time()
                result = finetune_on_reference(
                    scene, squares, Path(tmp) / f"ft_{count}_{seed}.pt",
                    cfg=replace(cfg, seed=seed), device="cpu")
                seconds = time.time() - t0
                model, _ = load_model(Path(tmp) / f"ft_{count}_{seed}.pt", "cpu")
                after = naip_eval.score(predict_tiles(model, [s.image for s in scored],
                                                      SCALE), scored)
                row = {"count": count, "seed": seed, "polygons": len(squares),
                       "before": before, "after": after, "seconds": seconds,
                       "holdout_before": result.before, "holdout_after": result.after}
                rows.append(row)
                hb, ha = result.before or {}, result.after or {}
                print(f"  {count:2d}/class seed {seed}: other crops F1 {before['f1']:.3f} -> "
                      f"{after['f1']:.3f} (P {after['precision']:.3f}, R "
                      f"{after['recall']:.3f}), tree recall {after['tree_recall']:.3f}; "
                      f"held-out polygons F1 {hb.get('f1') or 0:.3f} -> "
                      f"{ha.get('f1') or 0:.3f}; {seconds:.0f} s", flush=True)
    for count in sorted({r["count"] for r in rows}):
        f1 = np.array([r["after"]["f1"] for r in rows if r["count"] == count])
        trees = np.array([r["after"]["tree_recall"] for r in rows if r["count"] == count])
        secs = np.array([r["seconds"] for r in rows if r["count"] == count])
        print(f"  {count:2d} squares/class: F1 {before['f1']:.3f} -> {f1.mean():.3f} "
              f"(min {f1.min():.3f}, max {f1.max():.3f}); tree recall "
              f"{before['tree_recall']:.3f} -> {trees.mean():.3f}; "
              f"{secs.mean() / 60:.1f} min")
    if args.only is None:
        rows = {"controlled": rows, "valencia": valencia(seeds, cfg)}
    print(f"# command: {' '.join(sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
