"""Extract urban green space: UGSNet over one raster, streamed to a class map."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ENGINES, PRECISIONS, PredictOptions
from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from . import spec
from .common import raster_frame, require_file


@dataclass
class ExtractRequest:
    image: str
    output: str
    model: str | None = None        # None: the bundled model
    probability: str | None = None  # also write the green probability (%) here
    uncertainty: str | None = None  # ... and 100 - the margin between the classes
    boundary: VectorLayer | None = None
    device: str = "auto"
    engine: str = "auto"            # auto: PyTorch on a GPU, else engines.cpu_choice
    options: PredictOptions = field(default_factory=PredictOptions)
    quicklook: str | None = None    # also write a PNG quick-look here


# Mapping options, shared with the frame grid (targets on PredictOptions as "options.*").
MAPPING_OPTIONS = (
    spec.MODEL,
    spec.BANDS.but(target="options.bands", advanced=False),
    spec.DEVICE,
    spec.Option("engine", "ENGINE", "Inference engine", "choice", choices=ENGINES,
                advanced=True, help="auto: PyTorch on a GPU; on the CPU the engine "
                "measured fastest for its family (OpenVINO or ONNX Runtime)"),
    spec.Option("options.precision", "PRECISION", "Precision", "choice",
                choices=PRECISIONS, advanced=True, help="auto: the measured default "
                "for this CPU (int8 where measured faster at the same F1, else fp32); "
                "fp32: full precision; int8 on openvino/onnxruntime, bf16/fp16 on "
                "openvino or a CUDA GPU; the log says what ran"),
    spec.Option("options.tile_size", "TILE_SIZE", "Tile size (px)", minimum=32,
                maximum=4096, unset=0, unset_means="the model card's", advanced=True),
    spec.Option("options.overlap", "OVERLAP", "Tile overlap (px)", minimum=0,
                maximum=2048, unset=-1, unset_means="tile size / 16", advanced=True),
    spec.Option("options.batch_size", "BATCH_SIZE", "Batch size (tiles)", minimum=1,
                maximum=256, advanced=True),
    spec.Option("options.threshold", "THRESHOLD", "Probability threshold for green",
                "float", minimum=0.01, maximum=0.99, advanced=True),
)


@dataclass
class ExtractResult:
    output: str
    probability: str | None
    quicklook: str | None
    uncertainty: str | None
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


OPTIONS = spec.bind(ExtractRequest, *MAPPING_OPTIONS, spec.Option(
    "options.allow_no_crs", "ALLOW_NO_CRS", "Accept a raster without CRS (map on the "
    "pixel grid)", "bool", qgis=False))


def run(request: ExtractRequest, feedback: Feedback = SILENT) -> ExtractResult:
    from ..model.engines import load_engine
    from ..mapping.predict import predict_raster
    image = require_file(request.image, "input raster")
    check_output_path(request.output, [image])
    extra = [request.output]
    for path in (request.probability, request.uncertainty):
        if path:
            check_output_path(path, [image, *extra])
            extra.append(path)
    if request.quicklook:
        check_output_path(request.quicklook, [image, request.output], (".png",))
    with file_errors(image):
        crs, bounds, size = raster_frame(image)
        boundary = None
        if request.boundary is not None:
            from ..mapping.boundary import polygon_mask
            boundary = polygon_mask(request.boundary, crs, bounds)
        model, card = load_engine(request.model, request.device, request.engine,
                                  precision=request.options.precision,
                                  tile=request.options.tile_size, raster_size=size,
                                  feedback=feedback)
        feedback.info(f"Model: {card.get('name', request.model)} ({card['variant']} "
                      f"UGSNet), engine {model.describe()}")
        summary = predict_raster(image, request.output, model, card,
                                 probability_path=request.probability,
                                 uncertainty_path=request.uncertainty,
                                 options=request.options, boundary=boundary,
                                 feedback=feedback)
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
        uncertainty=request.uncertainty,
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
