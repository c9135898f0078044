"""Headless command line: ``python -m ugs_plugin <command>``, the same engine as the
Processing algorithms. Exit code 0 on success, 1 with a one-line reason on error."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from . import plugin_version
from .core.config import (DEVICES, ENGINES, PRECISIONS, VARIANTS, AdaptConfig,
                          FinetuneConfig,
                          PredictOptions, TrainConfig)
from .core.workflows.sampling import SampleRequest
from .core.workflows.train import TrainRequest


class TerminalFeedback:
    """The engine's feedback on a terminal: a progress bar on a TTY, one plain line per
    10 % otherwise; --quiet shows warnings only. Built lazily (see ``make``) so the
    parser needs nothing of the engine."""

    @staticmethod
    def make(quiet=False, stream=None):
        from .core.feedback import Feedback

        class _Terminal(Feedback):
            def __init__(self):
                self.stream = stream or sys.stderr
                self.quiet = quiet
                self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
                self.open_bar = False
                self.last_step = -1

            def progress(self, percent, text=""):
                if self.quiet:
                    return
                percent = max(0.0, min(100.0, float(percent)))
                if self.tty:
                    filled = int(percent / 100 * 30)
                    line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f} %"
                    self.stream.write(line + (f"  {text[:60]}" if text else "") + "\033[K")
                    self.stream.flush()
                    self.open_bar = True
                elif int(percent // 10) > self.last_step:
                    self.last_step = int(percent // 10)
                    print(f"{percent:5.1f} %" + (f"  {text}" if text else ""),
                          file=self.stream, flush=True)

            def _end_bar(self):
                if self.open_bar:
                    self.stream.write("\n")
                    self.open_bar = False

            def info(self, message):
                if not self.quiet:
                    self._end_bar()
                    print(message, file=self.stream, flush=True)

            def warning(self, message):
                self._end_bar()
                print(f"warning: {message}", file=self.stream, flush=True)

            def close(self):
                self._end_bar()

        return _Terminal()


def ogr_modules():
    """(ogr, osr) with GDAL's exceptions on: GDAL 3.10 warns on every use until a
    mode is chosen, and GDAL 4 makes exceptions the default."""
    from osgeo import ogr, osr
    ogr.UseExceptions()
    osr.UseExceptions()
    return ogr, osr


def read_layer(path, name=None):
    """A vector file (any OGR format, first layer) as the engine's VectorLayer, in its
    own CRS."""
    from shapely import wkb

    from .core.errors import UgsError
    from .core.vectors import VectorLayer
    if not os.path.exists(path):
        raise UgsError(f"the vector file {path} does not exist; check the path")
    ogr, osr = ogr_modules()
    try:
        ds = ogr.Open(str(path))
    except RuntimeError:
        ds = None
    if ds is None or ds.GetLayerCount() == 0:
        raise UgsError(f"cannot open {path} as a vector dataset (GeoPackage, "
                       "Shapefile, GeoJSON, ...)")
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    fields = tuple(defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount()))
    srs = layer.GetSpatialRef()
    if srs is not None:
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    features = []
    for feature in layer:
        geom = feature.GetGeometryRef()
        shape = wkb.loads(bytes(geom.ExportToWkb())) if geom is not None else None
        features.append((shape, {f: feature.GetField(f) for f in fields}))
    return VectorLayer(name or os.path.basename(str(path)), features,
                       srs.ExportToWkt() if srs is not None else None, fields)


def optional_layer(path):
    return read_layer(path) if path else None


def values(text, default=("1",)):
    from .core.vectors import parse_values
    return parse_values(text, default)


def cmd_diagnostics(args, feedback):
    from .diagnostics import report
    print(report(), end="")
    return 0


def cmd_extract(args, feedback):
    from .core.workflows import extract
    result = extract.run(extract.ExtractRequest(
        image=args.image, output=args.output, model=args.model,
        probability=args.probability, boundary=optional_layer(args.boundary),
        device=args.device, engine=args.engine, options=extraction_options(args,
                                                       allow_no_crs=args.allow_no_crs),
        quicklook=args.quicklook), feedback)
    summary = dict(result.summary, model=result.model_name)
    if result.quicklook:
        summary["quicklook"] = result.quicklook
    print(json.dumps(summary, default=str) if args.json else
          f"{result.output}: green space {100 * result.green_fraction:.1f} % of "
          f"{result.valid_pixels / 1e6:.2f} Mpx valid, "
          f"{result.megapixels_per_second:.2f} MP/s, {result.engine} "
          f"({result.precision}) on {result.device}")
    return 0


def cmd_assess(args, feedback):
    from .core.workflows import assess
    result = assess.run(assess.AssessRequest(
        map=args.map, reference=read_layer(args.reference), class_field=args.field,
        green_values=values(args.green_values), boundary=optional_layer(args.boundary),
        report=args.report, table=args.csv), feedback)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0


def cmd_mask(args, feedback):
    from .core.workflows import mask
    result = mask.run(mask.MaskRequest(
        image=args.image, output=args.output, boundary=read_layer(args.boundary),
        buffer_m=args.buffer, all_touched=args.all_touched), feedback)
    print(json.dumps(result.__dict__) if args.json else
          f"{result.output}: {result.inside_pixels:,} of {result.pixels:,} pixels "
          "inside the boundary")
    return 0


def cmd_stats(args, feedback):
    import csv as csv_module

    from .core.workflows import statistics
    result = statistics.run(statistics.StatisticsRequest(
        map=args.map, zones=read_layer(args.zones), id_field=args.id_field,
        population_field=args.population_field), feedback)
    if args.json:
        print(json.dumps(result.rows))
    else:
        out = csv_module.DictWriter(sys.stdout, fieldnames=list(result.rows[0]))
        out.writeheader()
        out.writerows(result.rows)
    return 0


def cmd_indicators(args, feedback):
    from .core.workflows import indicators
    defaults = indicators.IndicatorsRequest(map="", zones=None)
    if args.cover_target is not None and not 1 <= args.cover_target <= 99:
        from .core.errors import UgsError
        raise UgsError(f"--cover-target is a percentage (30 for 30 %), not "
                       f"{args.cover_target:g}")
    zones = read_layer(args.zones)
    buildings = optional_layer(args.buildings)
    result = indicators.run(indicators.IndicatorsRequest(
        map=args.map, zones=zones, id_field=args.id_field, buildings=buildings,
        population_field=args.population_field, parks=optional_layer(args.parks),
        min_park_ha=args.min_park_ha, distance_m=args.distance,
        network=optional_layer(args.network),
        cover_target=defaults.cover_target if args.cover_target is None
        else args.cover_target / 100.0,
        indicator=args.indicator, report=args.report, table=args.csv), feedback)
    if args.out_zones:
        write_layer(args.out_zones, zones, indicators.zone_fields(result.request),
                    result.zones)
    if args.out_buildings and buildings is not None:
        write_layer(args.out_buildings, buildings,
                    indicators.building_fields(result.request), result.buildings)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0


def cmd_change(args, feedback):
    from .core.workflows import change
    zones = optional_layer(args.zones)
    result = change.run(change.ChangeRequest(
        map_a=args.map_a, map_b=args.map_b, output=args.output, zones=zones,
        id_field=args.id_field, report=args.report, table=args.csv), feedback)
    if args.out_zones and zones is not None:
        write_layer(args.out_zones, zones, change.ZONE_FIELDS, result.zones)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0


def write_layer(path, layer, names, rows):
    """``layer``'s features (own CRS, own fields) with ``names`` of ``rows`` appended,
    as a GeoPackage."""
    ogr, _ = ogr_modules()
    name = os.path.splitext(os.path.basename(path))[0]
    with new_geopackage(path, name, layer.crs, ogr.wkbUnknown) as out:
        for field in layer.fields:
            values = [a.get(field) for _, a in layer.features if a.get(field) is not None]
            kind = (ogr.OFTInteger64 if values and all(isinstance(v, int) for v in values)
                    else ogr.OFTReal if values and all(isinstance(v, (int, float))
                                                       for v in values)
                    else ogr.OFTString)
            out.CreateField(ogr.FieldDefn(field, kind))
        for field in names:
            out.CreateField(ogr.FieldDefn(field, ogr.OFTString if field == "zone_id"
                                          else ogr.OFTReal))
        for (geom, attrs), row in zip(layer.features, rows):
            feature = ogr.Feature(out.GetLayerDefn())
            if geom is not None:
                feature.SetGeometry(ogr.CreateGeometryFromWkb(geom.wkb))
            for field in layer.fields:
                if attrs.get(field) is not None:
                    feature.SetField(field, attrs[field])
            for field in names:
                value = row.get(field)
                if value is not None:
                    feature.SetField(field, str(value) if field == "zone_id"
                                     else float(value))
            out.CreateFeature(feature)


def cmd_sample(args, feedback):
    from .core.workflows import sampling
    result = sampling.run(sampling.SampleRequest(
        map=args.map, boundary=optional_layer(args.boundary),
        points_green=args.points_green, points_other=args.points_other,
        target_se=args.target_se, min_per_stratum=args.min_per_stratum,
        seed=args.seed), feedback)
    write_points(args.output, result)
    counts = {("green" if k else "other"): sum(p[2] == k for p in result.points)
              for k in (1, 0)}
    print(json.dumps({"output": args.output, "points": len(result.points), **counts})
          if args.json else f"{args.output}: {len(result.points)} points "
          f"(green {counts['green']}, other {counts['other']}); label the 'class' "
          "field, then run assess")
    return 0


@contextlib.contextmanager
def new_geopackage(path, layer_name, crs_wkt, geometry_type):
    """An empty GeoPackage layer to fill, written beside ``path`` and moved into place
    when the block completes."""
    from .core.errors import UgsError, check_output_path
    from .core.outputs import atomic_output
    check_output_path(path, (), (".gpkg",))
    with atomic_output(path, ".gpkg") as tmp:
        os.remove(tmp)  # the GeoPackage driver creates the file itself
        ogr, osr = ogr_modules()
        try:
            ds = ogr.GetDriverByName("GPKG").CreateDataSource(tmp)
        except RuntimeError as err:
            raise UgsError(f"cannot create {path}: {err}") from None
        srs = None
        if crs_wkt:
            srs = osr.SpatialReference()
            srs.ImportFromWkt(crs_wkt)
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        yield ds.CreateLayer(layer_name, srs, geometry_type)
        ds = None  # flushed and closed before the move


def write_points(path, result):
    """The sample as a GeoPackage layer with the fields assess reads back."""
    ogr, _ = ogr_modules()
    crs = result.crs.to_wkt() if result.crs is not None else None
    with new_geopackage(path, "validation_points", crs, ogr.wkbPoint) as layer:
        for name, kind in (("id", ogr.OFTInteger), ("stratum", ogr.OFTInteger),
                           ("stratum_pixels", ogr.OFTInteger64),
                           ("map_class", ogr.OFTInteger), ("class", ogr.OFTInteger)):
            layer.CreateField(ogr.FieldDefn(name, kind))
        for i, (x, y, stratum) in enumerate(result.points, start=1):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x!r} {y!r})"))
            for name, value in (("id", i), ("stratum", stratum),
                                ("stratum_pixels", result.stratum_pixels[stratum]),
                                ("map_class", stratum)):
                feature.SetField(name, value)
            layer.CreateFeature(feature)


def cmd_frames(args, feedback):
    from .core.workflows import frames
    result = frames.run(frames.FramesRequest(
        grid=read_layer(args.grid), output_folder=args.out,
        image_field=args.image_field, id_field=args.id_field,
        images_folder=args.images, boundary=optional_layer(args.boundary),
        model=args.model, device=args.device, engine=args.engine,
        options=extraction_options(args), shard=frames.parse_shard(args.shard)),
        feedback)
    shard = "/".join(map(str, frames.parse_shard(args.shard)))
    print(json.dumps({"shard": shard, "frames": [j.frame_id for j in result.jobs],
                      "counts": result.counts, "summary": result.summary})
          if args.json else f"shard {shard}: {result.counts}; summary {result.summary}")
    return 1 if result.counts["failed"] else 0


def cmd_train(args, feedback):
    from .core.config import TrainConfig
    from .core.workflows import train
    given = {"steps": args.steps, "batch_size": args.batch_size, "crop": args.crop,
             "lr": args.lr, "validate_every": args.validate_every,
             "checkpoint_every": args.checkpoint_every, "seed": args.seed}
    if args.scale_range:
        low, high = (float(v) for v in args.scale_range.split(","))
        given["scale_range"] = (low, high)
    defaults = train.TrainRequest("")
    result = train.run(train.TrainRequest(
        output=args.output, tiles=args.tiles, pairs=args.pairs, variant=args.variant,
        base_model=args.base_model, validation_groups=values(args.val_groups, ()),
        validation_fraction=(defaults.validation_fraction if args.val_fraction is None
                             else args.val_fraction),
        device=args.device, checkpoint=args.checkpoint, resume=args.resume,
        config=TrainConfig(**{k: v for k, v in given.items() if v is not None})),
        feedback)
    print(json.dumps(result.validation) if args.json else
          f"{result.output}: validation {result.validation or 'not measured'}")
    return 0


def cmd_adapt(args, feedback):
    from .core.config import AdaptConfig
    from .core.imagery import parse_band_list
    from .core.workflows import adapt
    given = {"iterations": args.iterations, "batch_size": args.batch_size,
             "tile": args.tile_size, "lambda_adv": args.lambda_adv,
             "lr_generator": args.lr_generator, "lr_discriminator": args.lr_discriminator}
    result = adapt.run(adapt.AdaptRequest(
        image=args.image, region=read_layer(args.region), output=args.output,
        model=args.model, source=args.source, device=args.device,
        bands=parse_band_list(args.bands), reference=optional_layer(args.reference),
        class_field=args.field, green_values=values(args.green_values),
        adapted_map=args.map, base_map=args.base_map,
        config=AdaptConfig(match_colours=not args.no_colour_match, seed=args.seed,
                           **{k: v for k, v in given.items() if v is not None})),
        feedback)
    info = result.adaptation
    summary = {"model": result.output, **{k: info[k] for k in
                                           ("losses_first", "losses_last", "seconds")},
               **{f"{k}_map": v for k, v in result.maps.items()}}
    print(json.dumps(summary) if args.json else
          f"{result.output}: adapted in {info['seconds']:.0f} s; losses "
          f"{info['losses_first']} -> {info['losses_last']}")
    return 0


def cmd_finetune(args, feedback):
    from .core.config import FinetuneConfig
    from .core.imagery import parse_band_list
    from .core.workflows import finetune
    given = {"iterations": args.iterations, "holdout": args.holdout, "lr": args.lr,
             "crop": args.crop_size, "source_weight": args.source_weight,
             "lambda_adv": args.lambda_adv}
    result = finetune.run(finetune.FinetuneRequest(
        image=args.image, reference=read_layer(args.reference), output=args.output,
        class_field=args.field, green_values=values(args.green_values), model=args.model,
        device=args.device, bands=parse_band_list(args.bands), source=args.source,
        finetuned_map=args.map, base_map=args.base_map,
        config=FinetuneConfig(seed=args.seed, match_colours=args.match_colours,
                              **{k: v for k, v in given.items() if v is not None})),
        feedback)

    def scores(s):
        return None if s is None else {k: s[k] for k in ("f1", "precision", "recall",
                                                         "pixels")}
    maps = {k: v for k, v in (("finetuned", args.map), ("base", args.base_map)) if v}
    summary = {"model": args.output, "before": scores(result.before),
               "after": scores(result.after), "train_polygons": result.train_polygons,
               "holdout_polygons": result.holdout_polygons,
               "seconds": round(result.seconds, 1),
               **{f"{k}_map": v for k, v in maps.items()}}
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


def add_output_arguments(parser, json_help="print a JSON summary on stdout"):
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress or messages on stderr, warnings only")


def add_device_argument(parser):
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, mps")


def add_extraction_arguments(parser):
    d = PredictOptions()
    parser.add_argument("--model", help="model file (.pt); default: the bundled light "
                        "model (on a CUDA GPU, models/ugsnet_full.pt when present)")
    add_device_argument(parser)
    parser.add_argument("--engine", default="auto", choices=ENGINES,
                        help="auto (default: ONNX Runtime on the CPU, PyTorch on a GPU), "
                        "onnxruntime, openvino, torch")
    parser.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    parser.add_argument("--tile-size", type=int, default=d.tile_size,
                        help="tile edge in px (default: the model card's)")
    parser.add_argument("--overlap", type=int, default=d.overlap,
                        help="tile overlap in px (default: tile size / 8)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size,
                        help=f"tiles per batch ({d.batch_size})")
    parser.add_argument("--threshold", type=float, default=d.threshold,
                        help=f"probability threshold for green ({d.threshold})")
    parser.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                        help="fp32 (default); bf16/fp16 on the openvino engine or on a "
                        "CUDA GPU (torch), said in the log")


def extraction_options(args, **extra):
    from .core.imagery import parse_band_list
    return PredictOptions(bands=parse_band_list(args.bands), tile_size=args.tile_size,
                          overlap=args.overlap, batch_size=args.batch_size,
                          threshold=args.threshold, precision=args.precision, **extra)


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
    add_output_arguments(ex)
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
    add_output_arguments(fr)
    fr.set_defaults(func=cmd_frames)

    mk = sub.add_parser("mask", help="set pixels outside an urban boundary to nodata")
    mk.add_argument("image")
    mk.add_argument("output")
    mk.add_argument("--boundary", required=True, help="polygons (any format/CRS)")
    mk.add_argument("--buffer", type=float, default=0.0, help="metres")
    mk.add_argument("--all-touched", action="store_true")
    add_output_arguments(mk)
    mk.set_defaults(func=cmd_mask)

    st = sub.add_parser("stats", help="green space per zone (CSV or JSON on stdout)")
    st.add_argument("map")
    st.add_argument("zones")
    st.add_argument("--id-field")
    st.add_argument("--population-field")
    add_output_arguments(st)
    st.set_defaults(func=cmd_stats)

    from .core.workflows.indicators import INDICATORS, IndicatorsRequest
    di = IndicatorsRequest(map="", zones=None)
    ind = sub.add_parser(
        "indicators", help="3-30-300 green-space indicators by zone",
        description="Per zone: green cover (share mapped green, against a target), "
        "buildings within a distance of a park (green patches of the map of at least "
        "--min-park-ha, or --parks polygons), straight or along --network roads, mean "
        "distance, and per resident with --population-field (on the buildings). Same "
        "engine as 'Green space indicators by zone' in QGIS.")
    ind.add_argument("map", help="green-space class raster (1 green, 0 other, 255 "
                     "nodata), projected CRS")
    ind.add_argument("zones", help="polygons (any format/CRS)")
    ind.add_argument("--id-field", help="zone name field (default: feature order)")
    ind.add_argument("--buildings", help="building points or footprints")
    ind.add_argument("--population-field", help="residents per building")
    ind.add_argument("--parks", help="park polygons instead of the map's patches")
    ind.add_argument("--min-park-ha", type=float, default=di.min_park_ha,
                     help=f"smallest park in hectares ({di.min_park_ha:g})")
    ind.add_argument("--distance", type=float, default=di.distance_m,
                     help=f"walking distance to a park in metres ({di.distance_m:g})")
    ind.add_argument("--network", help="road lines: distances along them")
    ind.add_argument("--cover-target", type=float,
                     help=f"green cover target in percent ({100 * di.cover_target:g})")
    ind.add_argument("--indicator", default=di.indicator, choices=tuple(INDICATORS),
                     help=f"indicator mapped in the report ({di.indicator})")
    ind.add_argument("--report", help="planner report to write (.html)")
    ind.add_argument("--csv", help="zone table to write (.csv)")
    ind.add_argument("--out-zones", help="zones with the indicators (.gpkg)")
    ind.add_argument("--out-buildings", help="buildings with their distance (.gpkg)")
    add_output_arguments(ind, '{"zones": [{"id", "green_cover", "buildings", '
                         '"buildings_within", "share_within", "mean_distance_m"}]}')
    ind.set_defaults(func=cmd_indicators)

    chg = sub.add_parser(
        "change", help="green-space change between two class maps",
        description="Change raster on MAP_A's grid (0 stable other, 1 stable green, 2 "
        "gain, 3 loss, 255 nodata; MAP_B resampled by nearest neighbour when the grids "
        "differ) and, with --zones, gained / lost / net area and patches per zone.")
    chg.add_argument("map_a", help="class map before")
    chg.add_argument("map_b", help="class map after")
    chg.add_argument("output", help="change raster to write (.tif)")
    chg.add_argument("--zones", help="polygons (any format/CRS)")
    chg.add_argument("--id-field", help="zone name field")
    chg.add_argument("--report", help="change report to write (.html)")
    chg.add_argument("--csv", help="zone table to write (.csv)")
    chg.add_argument("--out-zones", help="zones with the change (.gpkg)")
    add_output_arguments(chg, "one JSON object: totals (m²) and zones")
    chg.set_defaults(func=cmd_change)

    asx = sub.add_parser("assess", help="accuracy of a class map against reference data",
                         description="Compare a class raster (1 green, 0 other, 255 "
                         "nodata) with reference polygons (rasterized on the map's "
                         "grid) or points (sampled), any CRS.")
    asx.add_argument("map")
    asx.add_argument("reference")
    asx.add_argument("--field", required=True, help="field holding the reference class")
    asx.add_argument("--green-values", default="1",
                     help="values of FIELD meaning green space (default 1)")
    asx.add_argument("--boundary", help="compare only inside these polygons")
    asx.add_argument("--report", help="also write the HTML accuracy report here")
    asx.add_argument("--csv", help="also write the confusion matrix as CSV here")
    add_output_arguments(asx)
    asx.set_defaults(func=cmd_assess)

    dg = sub.add_parser("diagnostics", help="print a report for bug reports (versions, "
                        "engine, models, dependency folders)")
    add_output_arguments(dg)
    dg.set_defaults(func=cmd_diagnostics)

    sd = SampleRequest("")
    sp = sub.add_parser("sample", help="stratified random validation points over a "
                        "class map", description="Draw stratified random points over "
                        "MAP (strata = mapped classes) and write them to OUTPUT (.gpkg) "
                        "with an empty 'class' field to label; assess then gives "
                        "stratified estimates (Olofsson et al. 2014). Without point "
                        "counts, the sample size comes from --target-se.")
    sp.add_argument("map")
    sp.add_argument("output", help="GeoPackage to write")
    sp.add_argument("--boundary", help="sample only inside these polygons")
    sp.add_argument("--points-green", type=int, default=sd.points_green)
    sp.add_argument("--points-other", type=int, default=sd.points_other)
    sp.add_argument("--target-se", type=float, default=sd.target_se,
                    help=f"target standard error of overall accuracy ({sd.target_se})")
    sp.add_argument("--min-per-stratum", type=int, default=sd.min_per_stratum)
    sp.add_argument("--seed", type=int, default=sd.seed)
    add_output_arguments(sp)
    sp.set_defaults(func=cmd_sample)

    tr_defaults, tc = TrainRequest(""), TrainConfig()
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
    tr.add_argument("--variant", default=tr_defaults.variant, choices=VARIANTS)
    tr.add_argument("--base-model", help="fine-tune this model file instead")
    tr.add_argument("--val-groups", default="", help="groups held out for validation")
    # Defaults (None) come from TrainRequest / TrainConfig, shown in the help.
    tr.add_argument("--val-fraction", type=float, help="share of tiles (whole groups) "
                    f"for validation, default {tr_defaults.validation_fraction}; 0 = "
                    "train on all, unvalidated")
    tr.add_argument("--steps", type=int, help=f"default {tc.steps}")
    tr.add_argument("--batch-size", type=int, help=f"default {tc.batch_size}")
    tr.add_argument("--crop", type=int, help=f"training crop, default {tc.crop}")
    tr.add_argument("--lr", type=float, help=f"default {tc.lr:g}")
    tr.add_argument("--scale-range", help="resize factors for augmentation, default "
                    f"{tc.scale_range[0]},{tc.scale_range[1]} for tiles at ~1 m")
    tr.add_argument("--validate-every", type=int,
                    help="steps; default min(250, steps / 4)")
    tr.add_argument("--checkpoint-every", type=int,
                    help="steps; default min(250, steps / 4), -1 = only at the end")
    tr.add_argument("--checkpoint", help="checkpoint path (default OUTPUT.ckpt)")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    add_device_argument(tr)
    tr.add_argument("--seed", type=int, help=f"default {tc.seed}")
    add_output_arguments(tr)
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
    # Defaults (None) come from AdaptConfig, shown in the help.
    ac = AdaptConfig()
    ad.add_argument("--iterations", type=int, help=f"default {ac.iterations}, a quick run")
    ad.add_argument("--tile-size", type=int, help=f"default {ac.tile}")
    ad.add_argument("--batch-size", type=int, help=f"tiles per domain, default "
                    f"{ac.batch_size}")
    ad.add_argument("--lambda-adv", type=float, help=f"adversarial weight, default "
                    f"{ac.lambda_adv:g}")
    ad.add_argument("--lr-generator", type=float, help=f"default {ac.lr_generator:g}")
    ad.add_argument("--lr-discriminator", type=float,
                    help=f"default {ac.lr_discriminator:g}")
    ad.add_argument("--no-colour-match", action="store_true",
                    help="do not recolour source tiles to the region's colours")
    ad.add_argument("--reference", help="reference polygons inside the region (extra "
                    "supervision)")
    ad.add_argument("--field", default="class", help="class field of --reference")
    ad.add_argument("--green-values", default="1")
    ad.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    add_device_argument(ad)
    ad.add_argument("--seed", type=int, default=ac.seed)
    ad.add_argument("--map", help="also map the region with the adapted model here")
    ad.add_argument("--base-map", help="also map the region with the base model here")
    add_output_arguments(ad)
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
    # Defaults (None) come from FinetuneConfig, shown in the help.
    fc = FinetuneConfig()
    ft.add_argument("--iterations", type=int, help=f"default {fc.iterations} (about 2 "
                    "min, light model, laptop CPU)")
    ft.add_argument("--holdout", type=float, help="share of polygons held out, default "
                    f"{fc.holdout}")
    ft.add_argument("--lr", type=float, help=f"learning rate, default {fc.lr:g}")
    ft.add_argument("--crop-size", type=int, help=f"default {fc.crop}")
    ft.add_argument("--source", help="labelled source tiles, UGSet layout (default: the "
                    "shipped sample)")
    ft.add_argument("--source-weight", type=float, help=f"default {fc.source_weight}; "
                    "0 = no source")
    ft.add_argument("--match-colours", action="store_true",
                    help="recolour source tiles to the image's colours")
    ft.add_argument("--lambda-adv", type=float, help=f"adversarial weight, default "
                    f"{fc.lambda_adv:g}")
    ft.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    add_device_argument(ft)
    ft.add_argument("--seed", type=int, default=fc.seed)
    ft.add_argument("--map", help="also map the polygons' extent with the fine-tuned "
                    "model here")
    ft.add_argument("--base-map", help="... and with the base model here")
    add_output_arguments(ft, "one JSON object: before, after (f1, precision, recall), "
                         "seconds")
    ft.set_defaults(func=cmd_finetune)
    return parser


def main(argv=None):
    """Parse, run one command; every engine error ends here as one line."""
    from .core.errors import Cancelled, UgsError
    args = build_parser().parse_args(argv)
    feedback = TerminalFeedback.make(quiet=args.quiet)
    try:
        return args.func(args, feedback)
    except ImportError as err:
        message, code = f"{err}; install the dependencies (make demo sets up .venv)", 1
    except (Cancelled, UgsError) as err:
        message, code = str(err), 1
    except KeyboardInterrupt:
        message, code = "interrupted; no output was written", 130
    finally:
        feedback.close()  # ends a progress bar before the error line
    print(f"error: {message}", file=sys.stderr)
    return code
