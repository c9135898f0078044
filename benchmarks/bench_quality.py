"""Quality of a model (default: the bundled one) against what ../shared/data offers.

1. Held-out NAIP cities (Claremont, Palm Springs; never seen in training): F1,
   precision, recall, IoU and OA of green space against NDVI pseudo-labels, and
   tree recall against the human tree points; at ~1 m (tiles resampled from 0.6 m,
   as the model is meant to run) and at the native 0.6 m. The excess-green + Otsu
   baseline on the same tiles.
2. The same tiles under realistic radiometric shifts (desaturation, colour cast,
   haze, tone curve, hue shift): model and baseline.
3. The Valencia sample scene (other continent, sensor and season) against its
   mapped public green-space polygons: share mapped green inside them, and outside
   them (street trees and private gardens are real vegetation the polygons omit).

    .venv/bin/python benchmarks/bench_quality.py [--model M] [--quicklooks DIR]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import rasterio
from rasterio.features import rasterize

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import naip_eval  # noqa: E402
from ugs_plugin.core.model_file import load_model  # noqa: E402
from ugs_plugin.core.predict import PredictOptions, predict_raster  # noqa: E402
from ugs_plugin.core.quicklook import write_quicklook  # noqa: E402
from ugs_plugin.core.train import predict_tiles  # noqa: E402

SAMPLE = HERE.parent / "resources" / "sample"
KEYS = ("f1", "precision", "recall", "iou", "oa", "tree_recall")


def line(label, s):
    return (f"{label:34s} " + " ".join(f"{k} {s[k]:.3f}" for k in KEYS))


def valencia(model, card, out_dir):
    from osgeo import ogr
    from shapely import wkb
    scene = SAMPLE / "valencia_sample.tif"
    out = Path(out_dir) / "valencia_green_space.tif"
    predict_raster(scene, out, model, card, None, PredictOptions())
    write_quicklook(scene, out, Path(out_dir) / "valencia_quicklook.png")
    with rasterio.open(out) as ds:
        mapped, transform, shape = ds.read(1) == 1, ds.transform, ds.shape
    source = ogr.Open(str(SAMPLE / "valencia_green_reference.gpkg"))  # keep alive
    shapes = [(wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())), int(f["class"]))
              for f in source.GetLayer(0)]
    parks = rasterize(shapes, out_shape=shape, transform=transform, fill=255,
                      dtype="uint8")
    inside, outside = parks == 1, parks == 0
    result = {"inside_parks_mapped_green": float(mapped[inside].mean()),
              "outside_parks_mapped_green": float(mapped[outside].mean()),
              "park_share_of_scene": float(inside.mean()),
              "quicklook": str(Path(out_dir) / "valencia_quicklook.png")}
    # Roofs, a pool and clay courts digitized by hand on the scene: no vegetation.
    negatives = json.loads((SAMPLE / "valencia_hard_negatives.geojson").read_text())
    for kind in sorted({f["properties"]["kind"] for f in negatives["features"]}):
        geoms = [f["geometry"] for f in negatives["features"]
                 if f["properties"]["kind"] == kind]
        area = rasterize(geoms, out_shape=shape, transform=transform, fill=0,
                         dtype="uint8") == 1
        result[f"{kind}_mapped_green"] = float(mapped[area].mean())
        result[f"{kind}_pixels"] = int(area.sum())
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--quicklooks", default=None, help="keep quick-looks in this folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model, card = load_model(args.model, "cpu")
    val = [s for c in naip_eval.VAL_CITIES for s in naip_eval.load_city(c)]
    images = [s.image for s in val]
    report = {"model": card.get("name"), "tiles": len(val)}
    print(f"# model: {card.get('name')} ({card['variant']}); held-out cities "
          f"{', '.join(naip_eval.VAL_CITIES)}: {len(val)} tiles, "
          f"{sum(len(s.trees) for s in val)} tree points; labels: NDVI pseudo-labels")
    for label, scale in (("model @1 m", 0.6), ("model @0.6 m (native)", 1.0)):
        report[label] = naip_eval.score(predict_tiles(model, images, scale), val)
        print(line(label, report[label]))
    for city in naip_eval.VAL_CITIES:
        subset = [s for s in val if s.group == city]
        res = naip_eval.score(predict_tiles(model, [s.image for s in subset], 0.6), subset)
        report[f"model @1 m, {city}"] = res
        print(line(f"  {city} @1 m", res))
    base = naip_eval.score([naip_eval.excess_green_otsu(i) for i in images], val)
    report["baseline ExG+Otsu"] = base
    print(line("baseline ExG+Otsu", base))
    print("# radiometric shifts (same tiles, model @1 m | baseline)")
    for kind in naip_eval.SHIFTS[1:]:
        shifted = [naip_eval.shift(i, kind) for i in images]
        m = naip_eval.score(predict_tiles(model, shifted, 0.6), val)
        b = naip_eval.score([naip_eval.excess_green_otsu(i) for i in shifted], val)
        report[f"shift {kind}"] = {"model": m, "baseline": b}
        print(f"{kind:14s} model F1 {m['f1']:.3f} tree recall {m['tree_recall']:.3f} | "
              f"baseline F1 {b['f1']:.3f} tree recall {b['tree_recall']:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.quicklooks or tmp
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        report["valencia"] = valencia(model, card, out_dir)
    v = report["valencia"]
    print(f"# Valencia PNOA scene vs mapped public green-space polygons "
          f"({100 * v['park_share_of_scene']:.1f} % of the scene)")
    print(f"inside parks mapped green {100 * v['inside_parks_mapped_green']:.1f} %, "
          f"outside parks mapped green {100 * v['outside_parks_mapped_green']:.1f} % "
          f"(street trees, private gardens)"
          + (f"; quick-look {v['quicklook']}" if args.quicklooks else ""))
    print("hand-digitized non-vegetation: " + ", ".join(
        f"{k} {100 * v[f'{k}_mapped_green']:.1f} % green ({v[f'{k}_pixels']} px)"
        for k in ("roof", "water", "bare")))
    print(f"# command: {' '.join(sys.argv)}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
