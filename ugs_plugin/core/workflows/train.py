"""Train (or fine-tune) a model on labelled tiles (UGSet layout or image,mask pairs)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import TrainConfig
from ..errors import check_output_path, file_errors, UgsError
from ..feedback import Feedback, SILENT
from .common import require_file


@dataclass
class TrainRequest:
    output: str                     # model file (.pt); its card is written beside it
    tiles: str | None = None        # folder with images/ and masks/
    pairs: str | None = None        # or a text file of image,mask lines
    variant: str = "light"
    base_model: str | None = None   # fine-tune this model instead of training anew
    validation_groups: tuple = ()   # groups held out; () = the smallest groups
    validation_fraction: float = 0.2  # 0 (and no groups): train on all, unvalidated
    device: str = "auto"
    checkpoint: str | None = None   # default: OUTPUT.ckpt
    resume: bool = False
    config: TrainConfig = field(default_factory=TrainConfig)

    @property
    def checkpoint_path(self) -> str:
        return self.checkpoint or f"{self.output}.ckpt"


@dataclass
class TrainResult:
    output: str
    card: dict

    @property
    def validation(self) -> dict:
        return self.card.get("validation") or {}


def run(request: TrainRequest, feedback: Feedback = SILENT) -> TrainResult:
    from ..learning.train import train_from_tiles, TrainingCancelled
    if bool(request.tiles) == bool(request.pairs):
        raise UgsError("give either a tile folder (UGSet layout) or a pairs file")
    data = require_file(request.tiles or request.pairs, "training data")
    check_output_path(request.output, [data], (".pt",))
    if request.base_model:
        require_file(request.base_model, "base model")
    if request.config.steps < 1:
        raise UgsError("steps must be at least 1")
    steps = request.config.steps

    def progress(step, total, loss):
        text = f"step {step}/{total}, loss {loss:.4f}" \
            if step % 10 == 0 or step == total else ""
        feedback.progress(100.0 * step / total, text)

    with file_errors("the training data"):
        try:
            card = train_from_tiles(
                request.output, request.tiles, request.pairs, request.variant,
                request.base_model, tuple(request.validation_groups),
                request.validation_fraction, request.config, request.device,
                request.checkpoint_path, request.resume, progress,
                is_canceled=feedback.is_cancelled, log=feedback.info)
        except TrainingCancelled as err:
            raise TrainingCancelled(f"{err}; no model written. The checkpoint "
                                    f"{request.checkpoint_path} lets you resume "
                                    f"(of {steps} steps)") from None
    if not card.get("validation"):
        feedback.warning("no validation tiles: the model's accuracy was not measured")
    return TrainResult(str(request.output), card)
