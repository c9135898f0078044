"""Fine-tune a model on reference polygons drawn over a raster; score the base and the
fine-tuned model on held-out polygons."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import FinetuneConfig
from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import reference_classes, VectorLayer
from .common import raster_frame, require_file


@dataclass
class FinetuneRequest:
    image: str
    reference: VectorLayer          # green / not-green polygons, any CRS
    output: str                     # model file (.pt) + card
    class_field: str = "class"
    green_values: tuple = ("1",)
    model: str | None = None        # base model; None: the bundled one
    device: str = "auto"
    bands: tuple = ()
    source: str | None = None       # labelled source tiles; None: the shipped sample
    finetuned_map: str | None = None  # map the polygons' extent with each model
    base_map: str | None = None
    config: FinetuneConfig = field(default_factory=FinetuneConfig)


def run(request: FinetuneRequest, feedback: Feedback = SILENT):
    """Returns the engine's ``FinetuneResult`` (card, before, after, ...)."""
    from ..learning.finetune import finetune_on_reference
    image = require_file(request.image, "raster")
    check_output_path(request.output, [image], (".pt",))
    maps = {k: v for k, v in (("finetuned", request.finetuned_map),
                              ("base", request.base_map)) if v}
    for path in maps.values():
        check_output_path(path, [image, request.output])
    with file_errors(image):
        crs, _, _ = raster_frame(image)
        shapes, warnings = reference_classes(request.reference, request.class_field,
                                             request.green_values, crs)
        for warning in warnings:
            feedback.warning(warning)
        return finetune_on_reference(
            image, [(g, v) for g, v, _ in shapes], request.output, request.model,
            request.config, request.device, request.bands, request.source, maps,
            crs.to_wkt() if crs else None,
            progress=lambda fraction, text: feedback.progress(100.0 * fraction, text),
            is_canceled=feedback.is_cancelled, log=feedback.info,
            warn=feedback.warning)
