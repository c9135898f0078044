"""Fine-tune a model on reference polygons drawn over a raster; score the base and the
fine-tuned model on held-out polygons."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ACCEPT, FinetuneConfig
from ..errors import check_output_path, file_errors
from ..feedback import Feedback, SILENT
from ..vectors import CHECK_FIELD, reference_classes, split_checks, VectorLayer
from . import spec
from .common import comparison_maps, raster_frame, require_file


@dataclass
class FinetuneRequest:
    image: str
    reference: VectorLayer          # green / not-green polygons, any CRS
    output: str                     # model file (.pt) + card
    class_field: str = "class"
    green_values: tuple = ("1",)
    check_field: str = CHECK_FIELD  # 1 there: a mark that only checks the result
    model: str | None = None        # base model; None: the bundled one
    device: str = "auto"
    bands: tuple = ()
    source: str | None = None       # labelled source tiles; None: the shipped sample
    finetuned_map: str | None = None  # map the polygons' extent with each model
    base_map: str | None = None
    candidate: str | None = None    # also write the fine-tuned model here, kept or not
    config: FinetuneConfig = field(default_factory=FinetuneConfig)


OPTIONS = spec.bind(
    FinetuneRequest,
    spec.class_field("REFERENCE"),
    spec.GREEN_VALUES,
    spec.Option("check_field", "CHECK_FIELD", "Check field (1: a mark that only "
                "checks the result)", "field", parent="REFERENCE", optional=True,
                help="marks with 1 here are never trained on: they are the hold-out "
                "that decides whether the fine-tuned model is written. Suggest places "
                "to mark adds such check squares, placed at random rather than where "
                "the model is unsure, so they measure the map as a whole"),
    spec.BASE_MODEL,
    spec.Option("config.iterations", "ITERATIONS", "Iterations", minimum=1,
                maximum=1_000_000, help="the default takes about 2 min with the light "
                "model on a laptop CPU"),
    spec.DEVICE,
    spec.Option("config.accept", "ACCEPT", "Write the fine-tuned model", "choice",
                choices=ACCEPT, help="if better: only when it beats the base on the "
                "held-out polygons without moving the map far from the marks, else the "
                "base model is written again (with the reason in its card)"),
    spec.Option("config.seconds", "SECONDS", "Time budget of the training (s, 0 = the "
                "iterations)", "float", minimum=0.0, help="at most the iterations; the "
                "log says how many steps ran"),
    spec.Option("config.lr", "LEARNING_RATE", "Learning rate", "float", minimum=1e-8,
                maximum=1.0, advanced=True, flag="--lr"),
    spec.Option("config.crop", "CROP_SIZE", "Crop size (px, multiple of 16)",
                minimum=32, maximum=1024, advanced=True),
    spec.Option("config.holdout", "HOLDOUT", "Held-out share of the polygons", "float",
                minimum=0.0, maximum=0.9, advanced=True, help="whole polygons in "
                "spatial blocks; on a VRT mosaic with marks on several frames, the "
                "marks of whole frames (as near this share as the frames allow)"),
    spec.seed("config.seed"),
    spec.BANDS,
    spec.SOURCE,
    spec.Option("config.source_weight", "SOURCE_WEIGHT", "Weight of the source tiles "
                "(0 = none)", "float", minimum=0.0, maximum=10.0, advanced=True),
    spec.Option("config.match_colours", "MATCH_COLOURS", "Recolour source tiles to "
                "the raster's colours", "bool", advanced=True),
    spec.Option("config.lambda_adv", "LAMBDA_ADV", "Adversarial weight (0 = off)",
                "float", minimum=0.0, maximum=10.0, advanced=True),
    spec.Option("config.distill", "DISTILL", "Weight of the base's map on unmarked "
                "pixels (0 = off)", "float", minimum=0.0, maximum=100.0, advanced=True),
    spec.Option("config.l2sp", "L2SP", "Pull towards the base weights (L2-SP, 0 = "
                "off)", "float", minimum=0.0, maximum=100.0, advanced=True),
    spec.Option("config.head_first", "HEAD_FIRST", "Share of steps training the "
                "decoder and heads only", "float", minimum=0.0, maximum=1.0,
                advanced=True),
    spec.Option("config.interpolate", "INTERPOLATE", "Try mixes of the base and the "
                "fine-tuned weights", "bool", advanced=True, flag="--no-interpolate"),
    spec.Option("config.min_gain", "MIN_GAIN", "Held-out F1 rise a fine-tuned model "
                "must show to be written (smaller rises are within the hold-out's "
                "noise)", "float", minimum=0.0, maximum=1.0, advanced=True),
    spec.Option("config.max_moved", "MAX_MOVED", "Largest share of the map away from "
                "the marks that may change", "float", minimum=0.0, maximum=1.0,
                advanced=True),
    spec.Option("config.max_moved_sure", "MAX_MOVED_SURE", "Largest share of the map "
                "away from the marks that may change where the base model was sure "
                "(probability of green under 10 % or over 90 %)", "float", minimum=0.0,
                maximum=1.0, advanced=True),
    spec.Option("config.max_source_drop", "MAX_SOURCE_DROP", "Largest fall of F1 on "
                "the labelled source sample a fine-tuned model may show (1 = not "
                "checked)", "float", minimum=0.0, maximum=1.0, advanced=True),
)


def run(request: FinetuneRequest, feedback: Feedback = SILENT):
    """Returns the engine's ``FinetuneResult`` (card, before, after, the check's
    decision, ...). The comparison maps show the base and the fine-tuned model even
    when the check kept the base."""
    import tempfile

    from ..learning.finetune import finetune_on_reference
    from ..learning.region import NO_OVERVIEWS
    image = require_file(request.image, "raster")
    check_output_path(request.output, [image], (".pt",))
    if request.candidate:
        check_output_path(request.candidate, [image, request.output], (".pt",))
    maps = {k: v for k, v in (("fine-tuned", request.finetuned_map),
                              ("base", request.base_map)) if v}
    for path in maps.values():
        check_output_path(path, [image, request.output])
    share = 90.0 if maps else 100.0
    candidate, scratch = request.candidate, None
    if "fine-tuned" in maps and not candidate:  # the map shows the round's model
        scratch = tempfile.mkdtemp(prefix=".ugs_round_", dir=_folder(request.output))
        candidate = f"{scratch}/candidate.pt"
    try:
        with file_errors(image):
            crs, _, _ = raster_frame(image)
            shapes, warnings = reference_classes(request.reference, request.class_field,
                                                 request.green_values, crs)
            for warning in warnings:
                feedback.warning(warning)
            marks, checks = split_checks(shapes, request.reference, request.check_field)
            result = finetune_on_reference(
                image, marks, request.output, checks=checks,
                base_model=request.model, cfg=request.config, device=request.device,
                bands=request.bands, source=request.source,
                reference_crs=crs.to_wkt() if crs else None, candidate=candidate,
                feedback=feedback.part(0, share))
            if not result.accepted:
                feedback.info(f"The fine-tuned model is in {request.candidate}"
                              if request.candidate else "To get the fine-tuned model "
                              "anyway, ask for the candidate file (--candidate, "
                              "OUTPUT_CANDIDATE) or write it always (accept: always)")
            comparison_maps(image, maps, {"fine-tuned": candidate or request.output,
                                          "base": request.model},
                            request.device, feedback.part(share, 100), request.output,
                            bounds=result.extent, margin=request.config.context,
                            options=NO_OVERVIEWS)
    finally:
        if scratch:
            import shutil
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def _folder(path):
    import os
    return os.path.dirname(os.path.abspath(path))
