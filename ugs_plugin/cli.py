"""Headless command line: ``python -m ugs_plugin <command>``, the same engine as the
Processing algorithms. Exit code 0 on success, 1 with a one-line reason on error."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import plugin_version


class CliError(Exception):
    pass


def read_vector(path, target_crs=None, fields=()):
    """Features of a vector file (any OGR format) as (shapely geometry, {field: value})
    pairs, reprojected to ``target_crs`` (a rasterio CRS) when given; and the layer's
    own CRS. Missing fields are an error that lists the fields there are."""
    from osgeo import ogr, osr
    from rasterio.crs import CRS
    from shapely import wkb
    ds = ogr.Open(str(path))
    if ds is None:
        raise CliError(f"cannot open {path} as a vector dataset")
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    missing = [f for f in fields if f not in names]
    if missing:
        raise CliError(f"{path} has no field {missing[0]!r}; fields: {', '.join(names)}")
    source = layer.GetSpatialRef()
    transform = None
    if source is not None:
        source.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source is not None and target_crs is not None:
        target = osr.SpatialReference()
        target.ImportFromWkt(target_crs.to_wkt())
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        if not source.IsSame(target):
            transform = osr.CoordinateTransformation(source, target)
    rows = []
    for feature in layer:
        geom = feature.GetGeometryRef()
        if geom is None:
            continue
        geom = geom.Clone()
        if transform is not None:
            geom.Transform(transform)
        rows.append((wkb.loads(bytes(geom.ExportToWkb())),
                     {f: feature.GetField(f) for f in fields}))
    return rows, (CRS.from_wkt(source.ExportToWkt()) if source is not None else None)


def read_polygons(path, target_crs):
    """Geometries of a vector file, reprojected to ``target_crs``."""
    if target_crs is None:
        raise CliError("the raster has no CRS, so polygons cannot be placed on it")
    return [g for g, _ in read_vector(path, target_crs)[0]]


def polygons_over_image(image, path, what="boundary"):
    """(BoundaryMask of ``path``'s polygons in ``image``'s CRS, that CRS); errors
    when the image has no CRS or the polygons miss it."""
    import rasterio
    from .core.boundary import BoundaryMask
    with rasterio.open(image) as src:
        crs, bounds = src.crs, src.bounds
    if crs is None:
        raise CliError(f"a {what} needs an image with a CRS")
    mask = BoundaryMask(read_polygons(path, crs))
    if not mask.intersects(*bounds):
        raise CliError(f"the {what} does not overlap the image")
    return mask, crs


def cmd_extract(args):
    from .core.model_file import load_model
    from .core.predict import predict_raster
    from .core.quicklook import write_quicklook

    boundary = polygons_over_image(args.image, args.boundary)[0] if args.boundary else None
    model, card = load_model(args.model, args.device)
    options = extraction_options(args, allow_no_crs=args.allow_no_crs)
    quiet = args.json or args.quiet

    def progress(done, total):
        if not quiet:
            print(f"\r{done}/{total} tiles", end="", file=sys.stderr, flush=True)

    def log(msg):
        if not quiet:
            print(msg, file=sys.stderr)

    def warn(msg):
        print(f"warning: {msg}", file=sys.stderr)

    summary = predict_raster(args.image, args.output, model, card, args.probability,
                             options, boundary, progress=progress, log=log, warn=warn)
    if not quiet:
        print(file=sys.stderr)
    if args.quicklook:
        write_quicklook(args.image, args.output, args.quicklook,
                        bands=options.bands or (1, 2, 3))
        summary["quicklook"] = args.quicklook
    summary["model"] = card.get("name")
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.output}: green space {100 * summary['green_fraction']:.1f} % of "
              f"{summary['valid_pixels'] / 1e6:.2f} Mpx valid, "
              f"{summary['megapixels_per_second']:.2f} MP/s on {summary['device']}")
    return 0


def read_reference(path, field, green_values, target_crs):
    """(geometry, 0/1) pairs of a vector layer, reprojected; checks the class field."""
    geoms = read_vector(path, target_crs, (field,))[0]
    out, unexpected = [], set()
    for geom, attrs in geoms:
        value = attrs[field]
        if value is None:
            continue
        text = str(value).strip()
        if text.endswith(".0"):  # REAL class fields: 1.0 / 0.0
            text = text[:-2]
        if text in green_values:
            out.append((geom, 1))
        elif text in ("0", "0.0") or text.lower() in ("other", "non-green"):
            out.append((geom, 0))
        else:
            unexpected.add(text)
    if unexpected:
        raise CliError(f"field {field!r} has values {sorted(unexpected)[:5]} that are "
                       f"neither green ({', '.join(green_values)}) nor 0; list every "
                       "green value with --green-values")
    return out


def cmd_assess(args):
    import rasterio
    from .core.accuracy import assess_points, assess_polygons, binary_metrics
    green_values = tuple(v.strip() for v in args.green_values.split(",") if v.strip())
    with rasterio.open(args.map) as src:
        crs = src.crs
    shapes = read_reference(args.reference, args.field, green_values, crs)
    if shapes and all(g.geom_type == "Point" for g, _ in shapes):
        cm = assess_points(args.map, [(g.x, g.y, v) for g, v in shapes])
    else:
        cm = assess_polygons(args.map, [(g, v) for g, v in shapes
                                        if g.geom_type in ("Polygon", "MultiPolygon")])
    m = binary_metrics(cm.matrix)
    result = {"confusion_matrix": cm.matrix.tolist(),
              "overall_accuracy": m["overall_accuracy"],
              "precision": m["green"]["precision"], "recall": m["green"]["recall"],
              "f1": m["green"]["f1"], "iou": m["green"]["iou"], "kappa": m["kappa"],
              "other": m["other"], "n": m["n"]}
    if args.json:
        print(json.dumps(result))
    else:
        def fmt(v):
            return "undefined" if v is None else f"{v:.4f}"
        print(f"n={m['n']} OA {fmt(result['overall_accuracy'])} precision "
              f"{fmt(result['precision'])} recall {fmt(result['recall'])} F1 "
              f"{fmt(result['f1'])} IoU {fmt(result['iou'])} kappa "
              f"{fmt(result['kappa'])}; matrix [[tn, fp], [fn, tp]] = "
              f"{result['confusion_matrix']}")
    return 0


def cmd_mask(args):
    import rasterio
    from .core.boundary import BoundaryMask, buffer_geometries, mask_raster
    with rasterio.open(args.image) as src:
        crs = src.crs
    if crs is None:
        raise CliError(f"{args.image} has no CRS; the boundary cannot be placed on it")
    geoms = buffer_geometries(read_polygons(args.boundary, crs), args.buffer, crs)
    summary = mask_raster(args.image, args.output, BoundaryMask(geoms, args.all_touched))
    print(json.dumps(summary) if args.json else
          f"{args.output}: {summary['inside_pixels']:,} of {summary['pixels']:,} pixels "
          "inside the boundary")
    return 0


def cmd_stats(args):
    import csv as csv_module

    import rasterio
    from .core.zonal import zone_statistics
    with rasterio.open(args.map) as src:
        zones = read_vector(args.zones, src.crs, tuple(
            f for f in (args.id_field, args.population_field) if f))[0]
        rows = []
        for i, (geom, attrs) in enumerate(zones, start=1):
            population = attrs.get(args.population_field) if args.population_field \
                else None
            s = zone_statistics(src, geom, float(population) if population else None)
            rows.append({"zone": attrs.get(args.id_field, i) if args.id_field else i,
                         "mapped_m2": s.mapped_area, "green_m2": s.green_area,
                         "green_ratio": s.coverage, "patches": s.patches,
                         "patch_mean_m2": s.mean_patch_area,
                         "patch_max_m2": s.largest_patch_area,
                         "green_m2_per_person": s.green_per_person})
    if args.json:
        print(json.dumps(rows))
    else:
        out = csv_module.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else
                                    ["zone"])
        out.writeheader()
        out.writerows(rows)
    return 0


def cmd_frames(args):
    from .core import frames
    from .core.model_file import load_model
    fields = (args.image_field,) + ((args.id_field,) if args.id_field else ())
    features, grid_crs = read_vector(args.grid, None, fields)
    rows = [(attrs[args.id_field] if args.id_field else i, attrs[args.image_field], geom)
            for i, (geom, attrs) in enumerate(features, start=1)]
    try:
        k, n = (int(v) for v in args.shard.split("/"))
    except ValueError:
        raise CliError(f"--shard {args.shard!r}: use K/N, e.g. 2/8") from None
    try:
        jobs = frames.shard(frames.plan_jobs(rows, args.images, args.out), k, n)
    except ValueError as err:
        raise CliError(str(err)) from None
    boundary = read_polygons(args.boundary, grid_crs) if args.boundary else None
    model, card = load_model(args.model, args.device)
    options = extraction_options(args)
    extract, inside = frames.frame_runner(model, card, options, boundary, grid_crs)
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    frames.run_jobs(jobs, extract, inside, log=log)
    summary = Path(args.out) / (f"summary_{k}of{n}.csv" if n > 1 else "summary.csv")
    frames.write_summary(jobs, summary)
    finished = [j.output for j in jobs if j.status in ("done", "skipped (finished)")]
    if n == 1 and finished:
        frames.write_mosaic(finished, Path(args.out) / "mosaic.vrt")
    counts = {s: sum(j.status == s for j in jobs) for s in
              ("done", "skipped (finished)", "outside boundary", "failed")}
    print(json.dumps({"shard": f"{k}/{n}", "frames": [j.frame_id for j in jobs],
                      "counts": counts, "summary": str(summary)}) if args.json else
          f"shard {k}/{n}: {counts}; summary {summary}")
    return 1 if counts["failed"] else 0


def cmd_train(args):
    from .core.train import TrainConfig, train_from_tiles
    low, high = (float(v) for v in args.scale_range.split(","))
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, crop=args.crop,
                      lr=args.lr, scale_range=(low, high), seed=args.seed,
                      validate_every=args.validate_every,
                      checkpoint_every=args.checkpoint_every)
    val_groups = tuple(g for g in args.val_groups.split(",") if g)
    checkpoint = args.checkpoint or f"{args.output}.ckpt"

    def progress(step, total, loss):
        if not args.quiet and (step % 10 == 0 or step == total):
            print(f"\rstep {step}/{total} loss {loss:.4f}", end="", file=sys.stderr,
                  flush=True)

    def log(msg):
        if not args.quiet:
            print(f"\n{msg}", file=sys.stderr)

    card = train_from_tiles(args.output, args.tiles, args.pairs, args.variant,
                            args.base_model, val_groups, args.val_fraction, cfg,
                            args.device, checkpoint, args.resume, progress, log=log)
    print(json.dumps(card["validation"]) if args.json else
          f"{args.output}: validation {card['validation']}")
    return 0


def cmd_adapt(args):
    from .core.adapt import AdaptConfig, adapt_to_region, predict_region
    from .core.imagery import parse_band_list
    from .core.model_file import load_model
    region, crs = polygons_over_image(args.image, args.region, "region")
    reference = None
    if args.reference:
        green = [v.strip() for v in args.green_values.split(",") if v.strip()]
        reference = [(g, v == 1) for g, v in
                     read_reference(args.reference, args.field, green, crs)]
    given = {"iterations": args.iterations, "batch_size": args.batch_size,
             "tile": args.tile_size, "lambda_adv": args.lambda_adv,
             "lr_generator": args.lr_generator, "lr_discriminator": args.lr_discriminator}
    cfg = AdaptConfig(match_colours=not args.no_colour_match, seed=args.seed,
                      **{k: v for k, v in given.items() if v is not None})

    def progress(it, total, history):
        if not args.quiet and (it % 10 == 0 or it == total):
            print(f"\riteration {it}/{total}: segmentation {history['seg'][-1]:.4f} "
                  f"adversarial {history['adv'][-1]:.4f} discriminator "
                  f"{history['disc'][-1]:.4f}", end="", file=sys.stderr, flush=True)

    def log(msg):
        if not args.quiet:
            print(f"\n{msg}", file=sys.stderr)

    card = adapt_to_region(args.image, region, args.output, args.model, args.source, cfg,
                           args.device, parse_band_list(args.bands), reference=reference,
                           progress=progress, log=log)
    summary = {"model": args.output, **{k: card["adaptation"][k] for k in
                                         ("losses_first", "losses_last", "seconds")}}
    for which, path, model_path in (("adapted", args.map, args.output),
                                    ("base", args.base_map, args.model)):
        if path:
            model, model_card = load_model(model_path, args.device)
            predict_region(args.image, region, path, model, model_card, log=log)
            summary[f"{which}_map"] = path
    print(json.dumps(summary) if args.json else
          f"{args.output}: adapted in {card['adaptation']['seconds']:.0f} s; losses "
          f"{card['adaptation']['losses_first']} -> {card['adaptation']['losses_last']}")
    return 0


def cmd_finetune(args):
    import rasterio
    from .core.finetune import FinetuneConfig, finetune_on_reference
    from .core.imagery import parse_band_list
    with rasterio.open(args.image) as src:
        crs = src.crs
    if crs is None:
        raise CliError(f"{args.image} has no CRS, so the polygons cannot be placed on it")
    green = [v.strip() for v in args.green_values.split(",") if v.strip()]
    reference = read_reference(args.reference, args.field, green, crs)
    given = {"iterations": args.iterations, "holdout": args.holdout, "lr": args.lr,
             "crop": args.crop_size, "source_weight": args.source_weight,
             "lambda_adv": args.lambda_adv}
    cfg = FinetuneConfig(seed=args.seed, match_colours=args.match_colours,
                         **{k: v for k, v in given.items() if v is not None})
    quiet = args.quiet or args.json

    def progress(fraction, text):
        if not quiet:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)

    def log(msg):
        if not quiet:
            print(f"\n{msg}" if msg else "", file=sys.stderr)

    def warn(msg):
        print(f"\nwarning: {msg}", file=sys.stderr)

    maps = {k: v for k, v in (("finetuned", args.map), ("base", args.base_map)) if v}
    result = finetune_on_reference(args.image, reference, args.output, args.model, cfg,
                                   args.device, parse_band_list(args.bands), args.source,
                                   maps, progress=progress, log=log, warn=warn)

    def scores(s):
        return None if s is None else {k: s[k] for k in ("f1", "precision", "recall",
                                                         "pixels")}
    summary = {"model": args.output, "before": scores(result.before),
               "after": scores(result.after), "train_polygons": result.train_polygons,
               "holdout_polygons": result.holdout_polygons,
               "seconds": round(result.seconds, 1), **{f"{k}_map": v for k, v in
                                                      maps.items()}}
    if args.json:
        print(json.dumps(summary))
    elif result.before and result.after:
        def fmt(v):
            return "undefined" if v is None else f"{v:.3f}"
        print(f"{args.output}: held-out F1 {fmt(result.before['f1'])} -> "
              f"{fmt(result.after['f1'])} ({result.holdout_polygons} polygons), "
              f"{result.seconds:.0f} s")
    else:
        print(f"{args.output}: fine-tuned in {result.seconds:.0f} s (no polygons held "
              "out, gain not measured)")
    return 0


def add_extraction_arguments(parser):
    parser.add_argument("--model", help="model file (.pt); default: the bundled light "
                        "model (on a CUDA GPU, models/ugsnet_full.pt when present)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    parser.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    parser.add_argument("--tile-size", type=int, default=None,
                        help="tile edge in px (default: the model card's)")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap in px (64)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per batch (4)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability threshold for green (0.5)")


def extraction_options(args, **extra):
    from .core.imagery import parse_band_list
    from .core.predict import PredictOptions
    return PredictOptions(bands=parse_band_list(args.bands), tile_size=args.tile_size,
                          overlap=args.overlap, batch_size=args.batch_size,
                          threshold=args.threshold, **extra)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m ugs_plugin",
        description="Urban green space mapping with UGSNet, without QGIS.")
    parser.add_argument("--version", action="version", version=plugin_version())
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    ex = sub.add_parser("extract", help="map green space in a raster",
                        description="Map urban green space in IMAGE (~1 m RGB/RGBN) and "
                        "write OUTPUT: uint8 GeoTIFF, 1 green, 0 other, 255 nodata.")
    ex.add_argument("image")
    ex.add_argument("output")
    ex.add_argument("--boundary", help="polygons (any vector format/CRS); outside → nodata")
    ex.add_argument("--probability", help="also write the green probability (%%) here")
    add_extraction_arguments(ex)
    ex.add_argument("--allow-no-crs", action="store_true",
                    help="accept a raster without CRS (map on the pixel grid)")
    ex.add_argument("--quicklook", help="also write a PNG quick-look here")
    ex.add_argument("--json", action="store_true", help="print a JSON summary")
    ex.add_argument("--quiet", action="store_true", help="no progress output")
    ex.set_defaults(func=cmd_extract)

    fr = sub.add_parser("frames", help="map every frame of a frame grid (resumable)",
                        description="Run the extraction for each frame of GRID (one "
                        "polygon per image frame, a field with its image path). "
                        "Finished frames are skipped, so re-running resumes. --shard K/N "
                        "runs every N-th frame (sorted by id) starting at the K-th, for "
                        "Slurm arrays or Dask: shards never overlap. Without shards, a "
                        "mosaic.vrt of all finished frames is written.")
    fr.add_argument("grid")
    fr.add_argument("--images", default=None, help="folder for relative image paths")
    fr.add_argument("--out", required=True, help="output folder")
    fr.add_argument("--image-field", default="image")
    fr.add_argument("--id-field", default=None, help="default: feature order")
    fr.add_argument("--boundary", help="urban boundary polygons (any format/CRS)")
    fr.add_argument("--shard", default="1/1", help="K/N (default 1/1)")
    add_extraction_arguments(fr)
    fr.add_argument("--json", action="store_true")
    fr.add_argument("--quiet", action="store_true")
    fr.set_defaults(func=cmd_frames)

    mk = sub.add_parser("mask", help="set pixels outside an urban boundary to nodata")
    mk.add_argument("image")
    mk.add_argument("output")
    mk.add_argument("--boundary", required=True, help="polygons (any format/CRS)")
    mk.add_argument("--buffer", type=float, default=0.0, help="metres")
    mk.add_argument("--all-touched", action="store_true")
    mk.add_argument("--json", action="store_true")
    mk.set_defaults(func=cmd_mask)

    st = sub.add_parser("stats", help="green space per zone (CSV or JSON on stdout)")
    st.add_argument("map")
    st.add_argument("zones")
    st.add_argument("--id-field")
    st.add_argument("--population-field")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)

    asx = sub.add_parser("assess", help="accuracy of a class map against reference data",
                         description="Compare a class raster (1 green, 0 other, 255 "
                         "nodata) with reference polygons (rasterized on the map's "
                         "grid) or points (sampled), any CRS.")
    asx.add_argument("map")
    asx.add_argument("reference")
    asx.add_argument("--field", required=True, help="field holding the reference class")
    asx.add_argument("--green-values", default="1",
                     help="values of FIELD meaning green space (default 1)")
    asx.add_argument("--json", action="store_true")
    asx.set_defaults(func=cmd_assess)

    tr = sub.add_parser("train", help="train or fine-tune a model on labelled tiles",
                        description="Train UGSNet on labelled tiles: a folder in the "
                        "UGSet layout (images/ + masks/ with matching names; masks 0/1 "
                        "or 0/255, other values ignored) or a file of image,mask pairs. "
                        "Validation takes whole groups (the tile name without its "
                        "trailing number, e.g. city_2020 for city_2020_17).")
    tr.add_argument("output", help="model file to write (.pt, card beside it)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--tiles", help="folder with images/ and masks/")
    src.add_argument("--pairs", help="text file, one 'image,mask' per line")
    tr.add_argument("--variant", default="light", choices=["light", "full"])
    tr.add_argument("--base-model", help="fine-tune this model file instead")
    tr.add_argument("--val-groups", default="", help="groups held out for validation")
    tr.add_argument("--val-fraction", type=float, default=0.2)
    tr.add_argument("--steps", type=int, default=2000)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--crop", type=int, default=256)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--scale-range", default="0.8,1.25",
                    help="resize factors for augmentation (default 0.8,1.25 for ~1 m)")
    tr.add_argument("--validate-every", type=int, default=250)
    tr.add_argument("--checkpoint-every", type=int, default=250)
    tr.add_argument("--checkpoint", help="checkpoint path (default OUTPUT.ckpt)")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--json", action="store_true")
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=cmd_train)

    ad = sub.add_parser("adapt", help="adapt a model to the imagery of a region "
                        "(adversarial, no labels needed)",
                        description="Fine-tune a model to IMAGE inside REGION "
                        "(polygons, any format/CRS) by output-space adversarial "
                        "training against labelled source tiles, and write OUTPUT "
                        "(.pt + card). Same engine as 'Adapt model to region' in QGIS.")
    ad.add_argument("image")
    ad.add_argument("region")
    ad.add_argument("output", help="adapted model file to write (.pt, card beside it)")
    ad.add_argument("--model", help="base model (default: the bundled model)")
    ad.add_argument("--source", help="labelled source tiles, UGSet layout (default: "
                    "the shipped sample)")
    # Defaults (None) come from the engine's AdaptConfig, so --help needs no torch.
    ad.add_argument("--iterations", type=int, help="default 150, a quick run")
    ad.add_argument("--tile-size", type=int, help="default 128")
    ad.add_argument("--batch-size", type=int, help="tiles per domain, default 4")
    ad.add_argument("--lambda-adv", type=float, help="adversarial weight, default 0.001")
    ad.add_argument("--lr-generator", type=float, help="default 2.5e-4")
    ad.add_argument("--lr-discriminator", type=float, help="default 1e-4")
    ad.add_argument("--no-colour-match", action="store_true",
                    help="do not recolour source tiles to the region's colours")
    ad.add_argument("--reference", help="reference polygons inside the region (extra "
                    "supervision)")
    ad.add_argument("--field", default="class", help="class field of --reference")
    ad.add_argument("--green-values", default="1")
    ad.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    ad.add_argument("--device", default="auto")
    ad.add_argument("--seed", type=int, default=0)
    ad.add_argument("--map", help="also map the region with the adapted model here")
    ad.add_argument("--base-map", help="also map the region with the base model here")
    ad.add_argument("--json", action="store_true")
    ad.add_argument("--quiet", action="store_true")
    ad.set_defaults(func=cmd_adapt)

    ft = sub.add_parser("finetune", help="fine-tune a model on reference polygons and "
                        "report held-out F1 before/after",
                        description="Fine-tune a model on green / not-green polygons "
                        "(REFERENCE, any format/CRS) drawn over IMAGE, holding out a "
                        "share of them to score the base and the fine-tuned model, and "
                        "write OUTPUT (.pt + card). Same engine as 'Fine-tune model on "
                        "reference polygons' in QGIS.")
    ft.add_argument("image")
    ft.add_argument("reference")
    ft.add_argument("output", help="fine-tuned model file to write (.pt, card beside it)")
    ft.add_argument("--field", default="class", help="class field (default: class)")
    ft.add_argument("--green-values", default="1",
                    help="values of the field meaning green space (default: 1)")
    ft.add_argument("--model", help="base model (default: the bundled model)")
    # Defaults (None) come from the engine's FinetuneConfig, so --help needs no torch.
    ft.add_argument("--iterations", type=int, help="default 300 (about 2 min, light "
                    "model, laptop CPU)")
    ft.add_argument("--holdout", type=float, help="share of polygons held out, "
                    "default 0.25")
    ft.add_argument("--lr", type=float, help="learning rate, default 2e-4")
    ft.add_argument("--crop-size", type=int, help="default 96")
    ft.add_argument("--source", help="labelled source tiles, UGSet layout (default: the "
                    "shipped sample)")
    ft.add_argument("--source-weight", type=float, help="default 1.0; 0 = no source")
    ft.add_argument("--match-colours", action="store_true",
                    help="recolour source tiles to the image's colours")
    ft.add_argument("--lambda-adv", type=float, help="adversarial weight, default 0")
    ft.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    ft.add_argument("--device", default="auto")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--map", help="also map the polygons' extent with the fine-tuned "
                    "model here")
    ft.add_argument("--base-map", help="... and with the base model here")
    ft.add_argument("--json", action="store_true",
                    help="print one JSON object: before, after (f1, precision, recall), "
                    "seconds")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=cmd_finetune)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        from .core.boundary import BoundaryError
        from .core.imagery import ImageryError
        from .core.model_file import ModelFileError
        from .core.predict import PredictError
        from .core.accuracy import ReferenceDataError
        from .core.train import TrainingCancelled, TrainingError
        from .core.adapt import AdaptationCancelled, AdaptationError
        from .core.finetune import FinetuneCancelled, FinetuneError
    except ImportError as err:
        print(f"error: {err}; install the dependencies (make demo sets up .venv)",
              file=sys.stderr)
        return 1
    try:
        return args.func(args)
    except (CliError, BoundaryError, ImageryError, ModelFileError, PredictError,
            TrainingError, TrainingCancelled, ReferenceDataError, AdaptationError,
            AdaptationCancelled, FinetuneError, FinetuneCancelled) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130
