"""``python -m ugs_plugin extract``: map green space in a raster."""
from __future__ import annotations

import json

from ..core.workflows.extract import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer


def add_parser(sub):
    ex = sub.add_parser("extract", help="map green space in a raster",
                        description="Map urban green space in IMAGE (~1 m RGB/RGBN) and "
                        "write OUTPUT: uint8 GeoTIFF, 1 green, 0 other, 255 nodata.")
    ex.add_argument("image")
    ex.add_argument("output")
    ex.add_argument("--boundary", help="polygons (any vector format/CRS); outside → nodata")
    ex.add_argument("--probability", help="also write the green probability (%%) here")
    ex.add_argument("--uncertainty", help="also write the uncertainty here: 100 - the "
                    "margin between the two classes (%%), where to mark next")
    add_options(ex, OPTIONS)
    ex.add_argument("--quicklook", help="also write a PNG quick-look here")
    add_output_arguments(ex)
    ex.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import extract
    result = extract.run(build_request(
        args, OPTIONS, image=args.image, output=args.output,
        probability=args.probability, uncertainty=args.uncertainty,
        boundary=optional_layer(args.boundary),
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
