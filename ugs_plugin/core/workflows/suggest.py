"""Suggest places to mark: map the raster with the current model (and the previous
round's, when given), and pick squares where the map is least sure or the two
disagree, spread over the kinds of surface the raster has."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

from ..config import PredictOptions
from ..errors import file_errors
from ..feedback import Feedback, SILENT
from . import spec
from .common import raster_frame, require_file


@dataclass
class SuggestRequest:
    image: str
    model: str | None = None           # the current model; None: the bundled one
    previous_model: str | None = None  # the round before: where the two disagree
    count: int = 10
    checks: int = 6                    # check squares, at random: the hold-out
    side: int = 16                     # px of a suggested square
    device: str = "auto"
    engine: str = "auto"
    seed: int = 0
    options: PredictOptions = field(default_factory=PredictOptions)


@dataclass
class SuggestResult:
    suggestions: list                  # learning.suggest.Suggestion, best first
    crs: str | None                    # WKT of the raster's CRS


OPTIONS = spec.bind(
    SuggestRequest,
    spec.MODEL.but(label="Current model (empty = the bundled model)", help=""),
    spec.Option("previous_model", "PREVIOUS_MODEL", "Model of the round before "
                "(empty = none)", "file", extension="pt",
                help="squares also go where the two models disagree"),
    spec.Option("count", "COUNT", "Squares to suggest", minimum=1, maximum=200),
    spec.Option("checks", "CHECKS", "Check squares (placed at random, 0 = none)",
                minimum=0, maximum=200, help="squares with check 1, half where the map "
                "says green, half elsewhere, at random: marked like the others, they "
                "are never trained on and decide whether the fine-tuned model is "
                "written. Marks where the model is unsure over-state the gain when "
                "held out; random ones measure the map as a whole"),
    spec.Option("side", "SIDE", "Side of a square (px)", minimum=4, maximum=256,
                advanced=True),
    spec.DEVICE,
    spec.BANDS.but(target="options.bands"),
    spec.seed(),
)


def run(request: SuggestRequest, feedback: Feedback = SILENT) -> SuggestResult:
    from ..learning.suggest import suggest_squares
    from ..mapping.predict import predict_raster
    from ..model.engines import load_engine
    image = require_file(request.image, "raster")
    if request.model:
        require_file(request.model, "model")
    if request.previous_model:
        require_file(request.previous_model, "previous model")
    with file_errors(image), tempfile.TemporaryDirectory(prefix="ugs_suggest_") as tmp:
        crs, _, size = raster_frame(image)
        share = 45.0 if request.previous_model else 90.0
        maps = {}
        for n, (which, path) in enumerate((("current", request.model),
                                           ("previous", request.previous_model))):
            if which == "previous" and not path:
                continue
            feedback.info(f"Mapping with the {which} model…")
            model, card = load_engine(path, request.device, request.engine,
                                      raster_size=size, feedback=feedback)
            maps[which] = f"{tmp}/{which}.tif"
            predict_raster(image, maps[which], model, card,
                           probability_path=f"{tmp}/{which}_probability.tif",
                           options=request.options,
                           feedback=feedback.part(n * share, (n + 1) * share))
        suggestions = suggest_squares(
            image, f"{tmp}/current_probability.tif", request.count,
            checks=request.checks, classes_path=maps["current"], other_classes_path=maps.get("previous"),
            side=request.side, seed=request.seed, feedback=feedback.part(90, 100))
    checks = sum(s.check for s in suggestions)
    feedback.info(f"{len(suggestions) - checks} places to mark, the least sure first"
                  + (f", and {checks} check squares at random (check 1)" if checks
                     else ""))
    return SuggestResult(suggestions, crs.to_wkt() if crs else None)
