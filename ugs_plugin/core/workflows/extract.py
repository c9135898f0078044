"""Extract urban green space: UGSNet over one raster, streamed to a class map."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import PredictOptions
from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from .common import per_step, raster_frame, require_file


@dataclass
class ExtractRequest:
    image: str
    output: str
    model: str | None = None        # None: the bundled model
    probability: str | None = None  # also write the green probability (%) here
    boundary: VectorLayer | None = None
    device: str = "auto"
    engine: str = "auto"            # auto: ONNX Runtime on the CPU, PyTorch on a GPU
    options: PredictOptions = field(default_factory=PredictOptions)
    quicklook: str | None = None    # also write a PNG quick-look here


@dataclass
class ExtractResult:
    output: str
    probability: str | None
    quicklook: str | None
    model_name: str
    device: str
    engine: str
    precision: str
    green_fraction: float
    green_pixels: int
    valid_pixels: int
    pixel_area: float               # map units squared
    tiles: int
    seconds: float
    megapixels_per_second: float
    summary: dict

    @property
    def green_area(self) -> float:
        return self.green_pixels * self.pixel_area


def run(request: ExtractRequest, feedback: Feedback = SILENT) -> ExtractResult:
    from ..model.engines import load_engine
    from ..mapping.predict import predict_raster
    image = require_file(request.image, "input raster")
    for path in (request.output, request.probability):
        if path:
            check_output_path(path, [image])
    if request.quicklook:
        check_output_path(request.quicklook, [image, request.output], (".png",))
    with file_errors(image):
        crs, bounds, size = raster_frame(image)
        boundary = None
        if request.boundary is not None:
            from ..mapping.boundary import polygon_mask
            boundary = polygon_mask(request.boundary, crs, bounds)
        model, card = load_engine(request.model, request.device, request.engine,
                                  request.options.precision, request.options.tile_size,
                                  feedback.info, feedback.warning, raster_size=size)
        feedback.info(f"Model: {card.get('name', request.model)} ({card['variant']} "
                      f"UGSNet), engine {model.describe()}")
        summary = predict_raster(image, request.output, model, card, request.probability,
                                 request.options, boundary, progress=per_step(feedback),
                                 is_canceled=feedback.is_cancelled, log=feedback.info,
                                 warn=feedback.warning)
        if summary["valid_pixels"] == 0:
            feedback.warning("the raster has no valid pixel (all nodata"
                             + (" or outside the boundary" if boundary else "")
                             + "): the map is empty, not 0 % green")
        if request.quicklook:
            from ..mapping.quicklook import write_quicklook
            write_quicklook(image, request.output, request.quicklook,
                            bands=request.options.bands or (1, 2, 3))
    pixel_area = _pixel_area(image)
    result = ExtractResult(
        output=str(request.output), probability=request.probability,
        quicklook=request.quicklook, model_name=str(card.get("name")),
        device=str(summary.get("device")), engine=summary["engine"],
        precision=summary["precision"], green_fraction=summary["green_fraction"],
        green_pixels=int(summary["green_pixels"]),
        valid_pixels=int(summary["valid_pixels"]), pixel_area=pixel_area,
        tiles=int(summary["tiles"]), seconds=summary["seconds"],
        megapixels_per_second=summary["megapixels_per_second"], summary=summary)
    feedback.info(f"Green space: {100 * result.green_fraction:.1f} % of "
                  f"{result.valid_pixels:,} valid pixels; {result.tiles} tiles in "
                  f"{result.seconds:.1f} s ({result.megapixels_per_second:.2f} MP/s)")
    return result


def _pixel_area(path) -> float:
    import rasterio
    with rasterio.open(path) as src:
        return abs(src.transform.a * src.transform.e)
