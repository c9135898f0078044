"""Does adaptation adapt? Before/after figures on two shifts whose labels the
adaptation never sees, over several seeds (prints a table; not part of the tests).

- Controlled shift: Palm Springs (a city held out of training), every crop given a
  strong compound radiometric change (``naip_eval.shift(..., "olive_dark")``). The
  model adapts on the first half of the crops (no labels) and is scored on the
  second half against NDVI pseudo-labels and the human tree points. Crops are
  resampled from 0.6 m to ~1 m, the product's scale.
- Real shift: the bundled Valencia scene (PNOA, another continent, sensor and
  season). Adapts on the west half, scored on the east half against the mapped
  green-space polygons: share of park area mapped green (inside), share of the rest
  mapped green (outside: street trees are real vegetation the polygons omit).

Variants isolate what helps: ``source-only`` fine-tunes on the source tiles for the
same iterations with no adversarial term (the control); ``adversarial`` is the
AdaptSegNet recipe; ``+colour`` adds the part-way recolouring of source tiles to the
target's colour statistics (the shipped default); ``colour-only`` is that without
the adversarial term; ``-x10``/``-x50`` multiply lambda_adv by 10/50.

    .venv/bin/python benchmarks/bench_adapt.py [--seeds 0,1,2] [--iterations 150]
"""
import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import naip_eval  # noqa: E402
from ugs_plugin.core.config import AdaptConfig
from ugs_plugin.core.learning.adapt import adapt_model, adapt_to_region  # noqa: E402
from ugs_plugin.core.mapping.boundary import BoundaryMask  # noqa: E402
from ugs_plugin.core.model.files import load_model  # noqa: E402
from ugs_plugin.core.mapping.predict import predict_raster  # noqa: E402
from ugs_plugin.core.learning.training_tiles import load_source_tiles, Sample  # noqa: E402
from ugs_plugin.core.learning.train import predict_tiles  # noqa: E402

SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"
REFERENCE = REPO / "resources" / "sample" / "valencia_green_reference.gpkg"
VARIANTS = {
    "source-only": dict(lambda_adv=0.0, match_colours=False),
    "adversarial": dict(match_colours=False),
    "colour-only": dict(lambda_adv=0.0, match_colours=True),
    "adversarial+colour": dict(match_colours=True),
    "adversarial-x10+colour": dict(match_colours=True, lambda_adv=0.01),
    "adversarial-x50+colour": dict(match_colours=True, lambda_adv=0.05),
}


def controlled(seeds, base_cfg, variants):
    source, source_size = load_source_tiles(None)
    city = naip_eval.load_city("palm_springs")
    shifted = []
    for s in city:
        moved = Sample(naip_eval.shift(s.image, "olive_dark"), s.mask, s.name, s.group)
        moved.trees = s.trees
        shifted.append(moved)
    half = len(shifted) // 2
    adapt_on, scored = shifted[:half], shifted[half:]
    scale = 0.6  # 0.6 m crops to ~1 m
    tiles = [F.interpolate(torch.from_numpy(s.image).float()[None] / 255,
                           scale_factor=scale, mode="bilinear",
                           align_corners=False)[0].numpy() for s in adapt_on]
    base, _ = load_model(None, "cpu")
    before = naip_eval.score(predict_tiles(base, [s.image for s in scored], scale), scored)
    print(f"\nControlled shift (Palm Springs, olive_dark; {len(adapt_on)} crops to adapt "
          f"on, {len(scored)} scored, {before['trees']} trees)")
    print(f"  base model: F1 {before['f1']:.3f}, precision {before['precision']:.3f}, "
          f"recall {before['recall']:.3f}, tree recall {before['tree_recall']:.3f}")
    rows = {}
    for name in variants:
        for seed in seeds:
            model, _ = load_model(None, "cpu")
            cfg = replace(base_cfg, seed=seed, source_scale=source_size / 1.0,
                          **VARIANTS[name])
            t0 = time.time()
            result = adapt_model(model, source, tiles, cfg)
            after = naip_eval.score(predict_tiles(model, [s.image for s in scored],
                                                  scale), scored)
            disc = result["history"]["disc"]
            rows.setdefault(name, []).append(after)
            print(f"  {name:20s} seed {seed}: F1 {after['f1']:.3f} "
                  f"(P {after['precision']:.3f}, R {after['recall']:.3f}), tree recall "
                  f"{after['tree_recall']:.3f}; D loss {np.mean(disc[:10]):.3f} -> "
                  f"{np.mean(disc[-10:]):.3f}; {(time.time() - t0) / cfg.iterations:.2f} "
                  "s/iteration", flush=True)
    for name, results in rows.items():
        f1 = np.array([r["f1"] for r in results])
        trees = np.array([r["tree_recall"] for r in results])
        print(f"  {name:20s} F1 {before['f1']:.3f} -> {f1.mean():.3f} "
              f"(min {f1.min():.3f}, max {f1.max():.3f}, sd {f1.std(ddof=1) if len(f1) > 1 else 0:.3f}); "
              f"tree recall {before['tree_recall']:.3f} -> {trees.mean():.3f} "
              f"(min {trees.min():.3f}, max {trees.max():.3f})")


def park_scores(class_map, parks, keep, negatives):
    green = class_map == 1
    inside, outside = parks & keep, ~parks & keep
    tp = (green & inside).sum()
    precision = tp / max(1, (green & keep).sum())
    recall = tp / max(1, inside.sum())
    return {"inside": green[inside].mean(), "outside": green[outside].mean(),
            "f1": 2 * precision * recall / max(1e-9, precision + recall),
            "negatives": green[negatives].mean()}


def real(seeds, base_cfg, variants):
    from osgeo import ogr
    from rasterio.features import rasterize
    from shapely import wkb
    with rasterio.open(SCENE) as src:
        transform, shape, b = src.transform, src.shape, src.bounds
    ds = ogr.Open(str(REFERENCE))
    parks = [wkb.loads(bytes(f.GetGeometryRef().ExportToWkb()))
             for f in ds.GetLayer(0) if f.GetField("class") == 1]
    park_mask = rasterize([(g, 1) for g in parks], out_shape=shape, transform=transform,
                          fill=0, dtype="uint8").astype(bool)
    from shapely.geometry import box, shape as geo_shape
    import json
    hard = json.loads((SCENE.parent / "valencia_hard_negatives.geojson").read_text())
    negatives = rasterize([(geo_shape(f["geometry"]), 1) for f in hard["features"]],
                          out_shape=shape, transform=transform, fill=0,
                          dtype="uint8").astype(bool)
    middle = (b.left + b.right) / 2
    west = BoundaryMask([box(b.left, b.bottom, middle, b.top)])
    keep = np.zeros(shape, bool)
    keep[:, shape[1] // 2 + 1:] = True
    with tempfile.TemporaryDirectory() as tmp:
        def mapped(model_path):
            model, card = load_model(model_path, "cpu")
            predict_raster(SCENE, f"{tmp}/map.tif", model, card)
            with rasterio.open(f"{tmp}/map.tif") as src:
                return src.read(1)
        before = park_scores(mapped(None), park_mask, keep, negatives)
        print("\nReal shift (Valencia PNOA, adapt on the west half, score the east half)")
        print(f"  base model: parks mapped green {before['inside']:.3f}, rest "
              f"{before['outside']:.3f}, F1 vs parks {before['f1']:.3f}, "
              f"hand-digitized roofs/water/bare mapped green {before['negatives']:.3f} "
              f"({negatives.sum()} px, whole scene)")
        rows = {}
        for name in variants:
            for seed in seeds:
                t0 = time.time()
                card = adapt_to_region(SCENE, west, f"{tmp}/adapted.pt",
                                       cfg=replace(base_cfg, seed=seed, **VARIANTS[name]),
                                       device="cpu")
                after = park_scores(mapped(f"{tmp}/adapted.pt"), park_mask, keep,
                                    negatives)
                rows.setdefault(name, []).append(after)
                last = card["adaptation"]["losses_last"]
                first = card["adaptation"]["losses_first"]
                print(f"  {name:20s} seed {seed}: parks {after['inside']:.3f}, rest "
                      f"{after['outside']:.3f}, F1 vs parks {after['f1']:.3f}, "
                      f"non-vegetation {after['negatives']:.3f}; D loss "
                      f"{first['disc']:.3f} -> {last['disc']:.3f}; "
                      f"{time.time() - t0:.0f} s", flush=True)
        for name, results in rows.items():
            inside = np.array([r["inside"] for r in results])
            outside = np.array([r["outside"] for r in results])
            f1 = np.array([r["f1"] for r in results])
            neg = np.array([r["negatives"] for r in results])
            print(f"  {name:20s} parks {before['inside']:.3f} -> {inside.mean():.3f} "
                  f"({inside.min():.3f}-{inside.max():.3f}), rest {before['outside']:.3f} "
                  f"-> {outside.mean():.3f} ({outside.min():.3f}-{outside.max():.3f}), "
                  f"F1 {before['f1']:.3f} -> {f1.mean():.3f} ({f1.min():.3f}-{f1.max():.3f}), "
                  f"non-vegetation {before['negatives']:.3f} -> {neg.mean():.3f} "
                  f"({neg.min():.3f}-{neg.max():.3f})")


def timing(base_cfg, iterations=6):
    """Seconds per iteration of the default recipe, light (bundled) and full UGSNet
    (random weights: no full weights ship), after one warm-up iteration."""
    from ugs_plugin.core.model.ugsnet import build_model
    source, source_size = load_source_tiles(None)
    with rasterio.open(SCENE) as src:
        b = src.bounds
        from shapely.geometry import box
        from ugs_plugin.core.learning.region import sample_target_tiles
        tiles = sample_target_tiles(src, BoundaryMask([box(*b)]), 16, base_cfg.tile,
                                    np.random.default_rng(0))
    print(f"\nTime per iteration (tile {base_cfg.tile}, batch {base_cfg.batch_size} per "
          f"domain, {torch.get_num_threads()} threads)")
    for variant in ("light", "full"):
        model = load_model(None, "cpu")[0] if variant == "light" else build_model("full")
        cfg = replace(base_cfg, iterations=1, source_scale=source_size)
        adapt_model(model, source, tiles, cfg)  # warm-up
        cfg = replace(cfg, iterations=iterations)
        t0 = time.time()
        adapt_model(model, source, tiles, cfg)
        per = (time.time() - t0) / iterations
        print(f"  {variant}: {per:.2f} s/iteration; {base_cfg.iterations} iterations "
              f"≈ {per * base_cfg.iterations / 60:.1f} min", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--only", choices=("controlled", "real", "timing"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    cfg = replace(AdaptConfig(), iterations=args.iterations)
    print(f"config: {cfg}")
    if args.only in (None, "controlled"):
        controlled(seeds, cfg, variants)
    if args.only in (None, "real"):
        real(seeds, cfg, variants)
    if args.only in (None, "timing"):
        timing(cfg)


if __name__ == "__main__":
    main()
