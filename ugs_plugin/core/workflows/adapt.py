"""Adapt a model to the imagery inside a drawn region by output-space adversarial
training (no labels needed; reference polygons add supervision where given), and
optionally map the region with the adapted and the base model."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import AdaptConfig
from ..errors import Cancelled, check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import reference_classes, VectorLayer
from .common import per_step, raster_frame, require_file


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
    from ..learning.region import predict_region
    from ..model.files import load_model
    image = require_file(request.image, "raster")
    check_output_path(request.output, [image], (".pt",))
    maps = {k: v for k, v in (("adapted", request.adapted_map),
                              ("base", request.base_map)) if v}
    for path in maps.values():
        check_output_path(path, [image, request.output])
    share = 80.0 if maps else 100.0

    def progress(it, total, history):
        text = ""
        if it == 1 or it % 10 == 0 or it == total:
            text = (f"iteration {it}/{total}: segmentation {history['seg'][-1]:.4f}, "
                    f"adversarial {history['adv'][-1]:.4f}, discriminator "
                    f"{history['disc'][-1]:.4f}")
            if "reference" in history:
                text += f", reference {history['reference'][-1]:.4f}"
        feedback.progress(share * it / total, text)

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
            image, region, request.output, request.model, request.source,
            request.config, request.device, request.bands, reference=reference,
            progress=progress,
            is_canceled=feedback.is_cancelled, log=feedback.info)
        info = card["adaptation"]
        feedback.info(f"Losses, first → last iterations: {info['losses_first']} → "
                      f"{info['losses_last']}")
        for n, (which, path) in enumerate(maps.items()):
            model, model_card = load_model(
                request.output if which == "adapted" else request.model, request.device)
            feedback.info(f"Mapping the region with the {which} model…")
            step = (100.0 - share) / len(maps)
            try:
                predict_region(image, region, path, model, model_card,
                               progress=per_step(feedback.part(share + n * step,
                                                               share + (n + 1) * step)),
                               is_canceled=feedback.is_cancelled, log=feedback.info)
            except Cancelled:
                raise Cancelled(f"cancelled while mapping; the model {request.output} "
                                "is complete") from None
    return AdaptResult(str(request.output), card, maps)
