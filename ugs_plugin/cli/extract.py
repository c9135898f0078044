"""``python -m ugs_plugin extract``: map green space in a raster."""
from __future__ import annotations

import json

from .options import add_extraction_arguments, add_output_arguments, extraction_options
from .vector_io import optional_layer


def add_parser(sub):
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
    ex.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import extract
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
