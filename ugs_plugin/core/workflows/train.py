"""Train (or fine-tune) a model on labelled tiles (UGSet layout or image,mask pairs)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import TrainConfig, VARIANTS
from ..errors import check_output_path, file_errors, UgsError
from ..feedback import Feedback, SILENT
from . import spec
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


OPTIONS = spec.bind(
    TrainRequest,
    spec.Option("variant", "VARIANT", "Model variant", "choice", choices=VARIANTS,
                help="light: the CPU default; full: the method's UGSNet, for GPUs; "
                "lean: a narrower light one, mapping 1.3x as fast on a CPU, that "
                "finds fewer small trees"),
    spec.BASE_MODEL.but(target="base_model", key="BASE_MODEL", label="Fine-tune this "
                        "model (empty = train anew)"),
    spec.Option("validation_groups", "VAL_GROUPS", "Validation groups, comma-separated "
                "(empty = automatic)", "values"),
    spec.Option("config.steps", "STEPS", "Training steps", minimum=1,
                maximum=10_000_000),
    spec.DEVICE,
    spec.Option("resume", "RESUME", "Resume from the checkpoint", "bool"),
    spec.Option("validation_fraction", "VAL_FRACTION", "Validation fraction (0 = no "
                "validation)", "float", minimum=0.0, maximum=0.9, advanced=True,
                help="share of tiles, in whole groups"),
    spec.Option("config.batch_size", "BATCH_SIZE", "Batch size", minimum=2,
                maximum=512, advanced=True),
    spec.Option("config.crop", "CROP", "Training crop (px, multiple of 16)", minimum=32,
                maximum=2048, advanced=True),
    spec.Option("config.lr", "LEARNING_RATE", "Learning rate", "float", minimum=1e-7,
                maximum=1.0, advanced=True, flag="--lr"),
    spec.Option("config.scale_range", "SCALE_RANGE", "Resize factors for augmentation "
                "(low,high)", "numbers", advanced=True, help="for tiles at ~1 m"),
    spec.Option("config.validate_every", "VALIDATE_EVERY", "Validate every N steps "
                "(0 = min(250, steps / 4))", minimum=0, advanced=True),
    spec.Option("config.checkpoint_every", "CHECKPOINT_EVERY", "Checkpoint every N "
                "steps (0 = min(250, steps / 4), -1 = only at the end)", minimum=-1,
                advanced=True),
    spec.seed("config.seed"),
    spec.Option("checkpoint", "CHECKPOINT", "Checkpoint file (default: OUTPUT.ckpt)",
                "file", qgis=False),
)


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

    with file_errors("the training data"):
        try:
            card = train_from_tiles(
                request.output, tiles_folder=request.tiles, pairs_file=request.pairs,
                variant=request.variant, base_model=request.base_model,
                val_groups=tuple(request.validation_groups),
                val_fraction=request.validation_fraction, cfg=request.config,
                device=request.device, checkpoint=request.checkpoint_path,
                resume=request.resume, feedback=feedback)
        except TrainingCancelled as err:
            raise TrainingCancelled(f"{err}; no model written. The checkpoint "
                                    f"{request.checkpoint_path} lets you resume "
                                    f"(of {steps} steps)") from None
    if not card.get("validation"):
        feedback.warning("no validation tiles: the model's accuracy was not measured")
    return TrainResult(str(request.output), card)
