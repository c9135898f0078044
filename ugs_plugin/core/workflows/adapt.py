"""Adapt a model to the imagery inside a drawn region by output-space adversarial
training (no labels needed; reference polygons add supervision where given), and
optionally map the region with the adapted and the base model."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import AdaptConfig
from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import reference_classes, VectorLayer
from . import spec
from .common import comparison_maps, raster_frame, require_file


@dataclass
class AdaptRequest:
    image: str
    region: VectorLayer             # polygons, any CRS
    output: str                     # adapted model file (.pt) + card
    model: str | None = None        # base model; None: the bundled one
    source: str | None = None       # labelled source tiles; None: the shipped sample
    device: str = "auto"
    bands: tuple = ()
    reference: VectorLayer | None = None  # optional reference polygons in the region
    class_field: str = "class"
    green_values: tuple = ("1",)
    adapted_map: str | None = None  # map the region with the adapted model here
    base_map: str | None = None     # ... and with the base model here
    config: AdaptConfig = field(default_factory=AdaptConfig)


OPTIONS = spec.bind(
    AdaptRequest,
    spec.BASE_MODEL,
    spec.SOURCE.but(label="Source tiles, UGSet layout (empty = the shipped sample)",
                    advanced=False),
    spec.Option("config.iterations", "ITERATIONS", "Iterations", minimum=1,
                maximum=1_000_000, help="the default is a quick run"),
    spec.DEVICE,
    spec.class_field("REFERENCE", label="Reference class field", optional=True),
    spec.GREEN_VALUES.but(optional=True),
    spec.BANDS,
    spec.Option("config.tile", "TILE_SIZE", "Tile size (px, multiple of 16)",
                minimum=64, maximum=1024, advanced=True),
    spec.Option("config.batch_size", "BATCH_SIZE", "Batch size (tiles per domain)",
                minimum=1, maximum=64, advanced=True),
    spec.Option("config.lambda_adv", "LAMBDA_ADV", "Adversarial weight (lambda_adv)",
                "float", minimum=0.0, maximum=10.0, advanced=True),
    spec.Option("config.lr_generator", "LR_GENERATOR", "Model learning rate", "float",
                minimum=1e-8, maximum=1.0, advanced=True),
    spec.Option("config.lr_discriminator", "LR_DISCRIMINATOR", "Discriminator "
                "learning rate", "float", minimum=1e-8, maximum=1.0, advanced=True),
    spec.Option("config.match_colours", "MATCH_COLOURS", "Recolour source tiles to "
                "the region's colours", "bool", advanced=True, flag="--no-colour-match"),
    spec.seed("config.seed"),
)


@dataclass
class AdaptResult:
    output: str
    card: dict
    maps: dict                      # "adapted"/"base" -> path

    @property
    def adaptation(self) -> dict:
        return self.card["adaptation"]


def run(request: AdaptRequest, feedback: Feedback = SILENT) -> AdaptResult:
    from ..learning.adapt import adapt_to_region
    image = require_file(request.image, "raster")
    check_output_path(request.output, [image], (".pt",))
    maps = {k: v for k, v in (("adapted", request.adapted_map),
                              ("base", request.base_map)) if v}
    for path in maps.values():
        check_output_path(path, [image, request.output])
    share = 80.0 if maps else 100.0
    with file_errors(image):
        crs, bounds, _ = raster_frame(image)
        from ..mapping.boundary import polygon_mask
        region = polygon_mask(request.region, crs, bounds, "region")
        reference = None
        if request.reference is not None:
            shapes, warnings = reference_classes(request.reference, request.class_field,
                                                 request.green_values, crs)
            for warning in warnings:
                feedback.warning(warning)
            reference = [(g, v == 1) for g, v, _ in shapes]
        card = adapt_to_region(
            image, region, request.output, base_model=request.model,
            source=request.source, cfg=request.config, device=request.device,
            bands=request.bands, reference=reference, feedback=feedback.part(0, share))
        info = card["adaptation"]
        feedback.info(f"Losses, first → last iterations: {info['losses_first']} → "
                      f"{info['losses_last']}")
        comparison_maps(image, maps, {"adapted": request.output, "base": request.model},
                        request.device, feedback.part(share, 100), request.output,
                        region=region)
    return AdaptResult(str(request.output), card, maps)
