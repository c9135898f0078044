"""Quality of models (default: the bundled one) against what ../shared/data offers,
side by side with the excess-green + Otsu baseline, all measured in this run.

1. Held-out NAIP cities (Claremont, Palm Springs; never seen in training), at ~1 m
   (tiles resampled from 0.6 m, as the model is meant to run): F1, precision, recall
   against NDVI pseudo-labels at two label rules (NDVI > 0.1 and > 0.2), and tree
   recall against the human tree points (Palm Springs: sparse palms over sand).
2. False-green rate per hard kind (share of such pixels mapped green), found with the
   NIR band (benchmarks/naip_eval.hard_kinds): water or deep shadow, shadow or dark
   surface, green-looking non-vegetation.
3. Hard positives: recall of vegetation and tree recall under radiometric shifts
   (desaturated, warm cast, haze, dark contrast, hue shift, olive and dark, dry
   season), and F1.
4. The Valencia sample scene (other continent, sensor, season): the hand-labelled
   evaluation points (resources/sample/valencia_labelled_points.geojson: accuracy,
   F1, false green per surface kind), the mapped public green-space polygons (share
   mapped green inside and outside them) and the hand-digitized non-vegetation.
5. The model card's own figures, printed next to this run's.

    .venv/bin/python benchmarks/bench_quality.py [--model M ...] [--json]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import rasterize

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "scripts"))
import naip_eval  # noqa: E402
from ugs_plugin.core.model.files import load_model  # noqa: E402
from ugs_plugin.core.config import PredictOptions
from ugs_plugin.core.mapping.predict import predict_raster  # noqa: E402
from ugs_plugin.core.learning.training_tiles import HARD_KINDS  # noqa: E402
from ugs_plugin.core.learning.train import binary_counts, predict_tiles, scores  # noqa: E402

SAMPLE = HERE.parent / "resources" / "sample"
RULES = (0.1, 0.2)
BASELINE = "ExG+Otsu"


def naip_figures(preds, val, labels_02):
    """Scores at both label rules, tree recall, false green per kind, recall of
    vegetation (NDVI > 0.2)."""
    out = {}
    for rule, labels in ((0.1, [s.mask for s in val]), (0.2, labels_02)):
        totals = np.zeros(4, np.int64)
        for pred, truth in zip(preds, labels):
            totals += binary_counts(pred, truth)
        out[f"ndvi>{rule}"] = scores(*totals)
    out["tree_recall"] = naip_eval.score(preds, val)["tree_recall"]
    for city in naip_eval.VAL_CITIES:
        idx = [i for i, s in enumerate(val) if s.group == city]
        out[f"tree_recall_{city}"] = naip_eval.score([preds[i] for i in idx],
                                                     [val[i] for i in idx])["tree_recall"]
    for code, name in HARD_KINDS.items():
        hit = total = 0
        for pred, s in zip(preds, val):
            where = s.kinds == code
            hit += int(pred[where].sum())
            total += int(where.sum())
        out[f"false_green:{name}"] = hit / total if total else float("nan")
        out[f"pixels:{name}"] = total
    return out


def valencia_points(class_map):
    points = json.loads((SAMPLE / "valencia_labelled_points.geojson").read_text())
    with rasterio.open(class_map) as ds:
        labelled = [f for f in points["features"] if f["properties"]["green"] is not None]
        coords = [tuple(f["geometry"]["coordinates"]) for f in labelled]
        mapped = [int(v[0]) for v in ds.sample(coords)]
    truth = [f["properties"]["green"] for f in labelled]
    tp = sum(1 for m, t in zip(mapped, truth) if m == 1 and t == 1)
    fp = sum(1 for m, t in zip(mapped, truth) if m == 1 and t == 0)
    fn = sum(1 for m, t in zip(mapped, truth) if m == 0 and t == 1)
    tn = sum(1 for m, t in zip(mapped, truth) if m == 0 and t == 0)
    out = {"points": scores(tp, fp, fn, tn), "n": len(truth)}
    kinds = {}
    for f, m in zip(labelled, mapped):
        if f["properties"]["green"] == 0:
            k = f["properties"]["kind"]
            kinds.setdefault(k, [0, 0])
            kinds[k][0] += m
            kinds[k][1] += 1
    out["false_green_points"] = {k: f"{a}/{b}" for k, (a, b) in sorted(kinds.items())}
    return out


def valencia(class_map):
    from osgeo import ogr
    from shapely import wkb
    with rasterio.open(class_map) as ds:
        mapped, transform, shape = ds.read(1) == 1, ds.transform, ds.shape
    source = ogr.Open(str(SAMPLE / "valencia_green_reference.gpkg"))  # keep alive
    shapes = [(wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())), int(f["class"]))
              for f in source.GetLayer(0)]
    parks = rasterize(shapes, out_shape=shape, transform=transform, fill=255,
                      dtype="uint8")
    result = {"inside_parks_green": float(mapped[parks == 1].mean()),
              "outside_parks_green": float(mapped[parks == 0].mean())}
    negatives = json.loads((SAMPLE / "valencia_hard_negatives.geojson").read_text())
    for kind in sorted({f["properties"]["kind"] for f in negatives["features"]}):
        geoms = [f["geometry"] for f in negatives["features"]
                 if f["properties"]["kind"] == kind]
        area = rasterize(geoms, out_shape=shape, transform=transform, fill=0,
                         dtype="uint8") == 1
        result[f"digitized_{kind}_green"] = float(mapped[area].mean())
    result.update(valencia_points(class_map))
    return result


def evaluate(model, card, val, labels_02, tmp):
    images = [s.image for s in val]
    report = {"naip": naip_figures(predict_tiles(model, images, 0.6), val, labels_02)}
    for kind in naip_eval.SHIFTS[1:]:
        shifted = [naip_eval.shift(i, kind) for i in images]
        report[f"shift:{kind}"] = naip_figures(predict_tiles(model, shifted, 0.6), val,
                                               labels_02)
    out = Path(tmp) / "valencia.tif"
    predict_raster(SAMPLE / "valencia_sample.tif", out, model, card,
                   options=PredictOptions())
    report["valencia"] = valencia(out)
    return report


def evaluate_baseline(val, labels_02, tmp):
    images = [s.image for s in val]
    report = {"naip": naip_figures([naip_eval.excess_green_otsu(i) for i in images],
                                   val, labels_02)}
    for kind in naip_eval.SHIFTS[1:]:
        shifted = [naip_eval.shift(i, kind) for i in images]
        report[f"shift:{kind}"] = naip_figures(
            [naip_eval.excess_green_otsu(i) for i in shifted], val, labels_02)
    with rasterio.open(SAMPLE / "valencia_sample.tif") as src:
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1,
                       dtype="uint8", crs=src.crs, transform=src.transform, nodata=255)
        image = src.read()
    out = Path(tmp) / "valencia_exg.tif"
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(naip_eval.excess_green_otsu(image)[None])
    report["valencia"] = valencia(out)
    return report


def rows(reports):
    """(label, {name: value}) lines of the comparison table."""
    lines = []

    def add(label, get):
        values = {}
        for name, r in reports.items():
            try:
                values[name] = get(r)
            except KeyError:
                values[name] = None
        lines.append((label, values))
    for rule in RULES:
        for key in ("f1", "precision", "recall"):
            add(f"NAIP held-out @1 m {key}, NDVI > {rule}",
                lambda r, k=key, q=rule: r["naip"][f"ndvi>{q}"][k])
    add("tree recall (human points)", lambda r: r["naip"]["tree_recall"])
    for city in naip_eval.VAL_CITIES:
        add(f"  tree recall {city}", lambda r, c=city: r["naip"][f"tree_recall_{c}"])
    for name in HARD_KINDS.values():
        add(f"false green: {name}", lambda r, n=name: r["naip"][f"false_green:{n}"])
    for kind in naip_eval.SHIFTS[1:]:
        add(f"shift {kind}: F1 (NDVI > 0.1)",
            lambda r, k=kind: r[f"shift:{k}"]["ndvi>0.1"]["f1"])
        add(f"shift {kind}: vegetation recall (NDVI > 0.2)",
            lambda r, k=kind: r[f"shift:{k}"]["ndvi>0.2"]["recall"])
        add(f"shift {kind}: false green, water/deep shadow",
            lambda r, k=kind: r[f"shift:{k}"][f"false_green:{HARD_KINDS[1]}"])
    for key in ("f1", "precision", "recall", "oa"):
        add(f"Valencia labelled points {key}", lambda r, k=key: r["valencia"]["points"][k])
    add("Valencia park polygons mapped green", lambda r: r["valencia"]["inside_parks_green"])
    add("Valencia outside parks mapped green",
        lambda r: r["valencia"]["outside_parks_green"])
    for kind in ("roof", "water", "bare"):
        add(f"Valencia digitized {kind} mapped green",
            lambda r, k=kind: r["valencia"][f"digitized_{k}_green"])
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append",
                    help="model file; repeat to compare (default: the bundled one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true",
                    help="a few tiles only, to check the script itself")
    args = ap.parse_args()
    val = [s for c in naip_eval.VAL_CITIES for s in naip_eval.load_city(c)]
    if args.smoke:
        val = val[::24]
    labels_02 = [naip_eval.label_from_ndvi(s.ndvi, 0.2) for s in val]
    print(f"# held-out cities {', '.join(naip_eval.VAL_CITIES)}: {len(val)} tiles, "
          f"{sum(len(s.trees) for s in val)} tree points; hard-kind pixels: " + ", ".join(
              f"{n} {int(sum((s.kinds == c).sum() for s in val))}"
              for c, n in HARD_KINDS.items()))
    reports, cards = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.model or [None]:
            model, card = load_model(path, "cpu")
            name = Path(path).stem if path else "bundled"
            cards[name] = card
            reports[name] = evaluate(model, card, val, labels_02, tmp)
        reports[BASELINE] = evaluate_baseline(val, labels_02, tmp)
    names = list(reports)
    width = max(len(n) for n in names) + 2
    print(f"{'':52s}" + "".join(f"{n:>{width}s}" for n in names))
    for label, values in rows(reports):
        print(f"{label:52s}" + "".join(
            f"{'n/a':>{width}s}" if values[n] is None else f"{values[n]:>{width}.3f}"
            for n in names))
    for name in names[:-1]:
        r = reports[name]["valencia"]
        print(f"{name}: Valencia points n={r['n']}, false green by kind "
              f"{r['false_green_points']}")
        v = cards[name].get("validation") or {}
        print(f"{name}: model card says: validation F1 {v.get('f1')}, tree recall "
              f"{v.get('tree_recall')} ({cards[name].get('name')})")
    print(f"# command: {' '.join(sys.argv)}")
    if args.json:
        print(json.dumps(reports, default=float))


if __name__ == "__main__":
    main()
