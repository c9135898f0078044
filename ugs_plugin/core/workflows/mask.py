"""Mask a raster by an urban boundary (GUB): pixels outside become nodata."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from . import spec
from .common import raster_frame, require_file


@dataclass
class MaskRequest:
    image: str
    output: str
    boundary: VectorLayer
    buffer_m: float = 0.0        # widen (or with < 0 shrink) the boundary, metres
    all_touched: bool = False    # keep every pixel the boundary touches


OPTIONS = spec.bind(
    MaskRequest,
    spec.Option("buffer_m", "BUFFER", "Buffer (metres)", "float", minimum=-100_000.0,
                maximum=100_000.0, help="widen the boundary (or shrink it, below 0)"),
    spec.Option("all_touched", "ALL_TOUCHED", "Keep all pixels the boundary touches",
                "bool"),
)


@dataclass
class MaskResult:
    output: str
    pixels: int
    inside_pixels: int
    internal_mask: bool          # the raster had no nodata value: outside is masked


def run(request: MaskRequest, feedback: Feedback = SILENT) -> MaskResult:
    from ..mapping.boundary import mask_raster
    image = require_file(request.image, "input raster")
    check_output_path(request.output, [image])
    with file_errors(image):
        crs, bounds, _ = raster_frame(image)
        from ..mapping.boundary import polygon_mask
        mask = polygon_mask(request.boundary, crs, bounds, "urban boundary",
                            request.all_touched, request.buffer_m)
        summary = mask_raster(image, request.output, mask, feedback=feedback)
    result = MaskResult(str(request.output), int(summary["pixels"]),
                        int(summary["inside_pixels"]), bool(summary["internal_mask"]))
    feedback.info(f"{result.inside_pixels:,} of {result.pixels:,} pixels inside the "
                  "boundary" + ("; outside marked in an internal mask (the raster has "
                                "no nodata value)" if result.internal_mask else ""))
    if result.inside_pixels == 0:
        feedback.warning("no pixel centre lies inside the boundary: the output is all "
                         "nodata; try 'all touched' or a buffer")
    return result
