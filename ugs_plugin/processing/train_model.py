"""ugs:trainmodel: supervised training / fine-tuning on labelled tiles."""
from __future__ import annotations

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputNumber, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination,
                       QgsProcessingParameterNumber, QgsProcessingParameterString)

from .common import add_advanced, require_engine
from .extract_green_space import DEVICES

VARIANTS = ["light", "full"]


class TrainModel(QgsProcessingAlgorithm):
    TILES = "TILES"
    PAIRS = "PAIRS"
    VARIANT = "VARIANT"
    BASE_MODEL = "BASE_MODEL"
    VAL_GROUPS = "VAL_GROUPS"
    STEPS = "STEPS"
    BATCH_SIZE = "BATCH_SIZE"
    CROP = "CROP"
    LEARNING_RATE = "LEARNING_RATE"
    DEVICE = "DEVICE"
    SEED = "SEED"
    RESUME = "RESUME"
    OUTPUT = "OUTPUT"

    def createInstance(self):  # noqa: N802
        return TrainModel()

    def name(self):
        return "trainmodel"

    def displayName(self):  # noqa: N802
        return "Train model on labelled tiles"

    def shortHelpString(self):  # noqa: N802
        return (
            "Trains UGSNet (or fine-tunes an existing model) on labelled tiles and "
            "writes a model file with its card, usable by <i>Extract Urban Green "
            "Space</i>.<br><br>"
            "<b>Tiles</b>: a folder in the UGSet layout: <tt>images/</tt> and "
            "<tt>masks/</tt> with matching file names; masks 1 (or 255) = green "
            "space, 0 = other, any other value ignored. Or a text file listing "
            "<tt>image,mask</tt> GeoTIFF pairs, one per line.<br>"
            "<b>Validation</b> takes whole groups of tiles (the name without its "
            "trailing number, e.g. <tt>city_2020</tt>), never random tiles of the "
            "same scene: name them, or the smallest groups (about 20 %) are used.<br>"
            "Training saves a checkpoint (model path + <tt>.ckpt</tt>) regularly and "
            "when cancelled; tick <i>Resume</i> to continue it. The full model needs "
            "a GPU to train in reasonable time; the light one trains on a CPU.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.TILES, "Tile folder (UGSet layout)",
            QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.PAIRS, "or: file of image,mask pairs", optional=True,
            fileFilter="Text files (*.txt *.csv)"))
        self.addParameter(QgsProcessingParameterEnum(
            self.VARIANT, "Model variant", options=VARIANTS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFile(
            self.BASE_MODEL, "Fine-tune this model (optional)", extension="pt",
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.VAL_GROUPS, "Validation groups, comma-separated (empty = automatic)",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEPS, "Training steps", QgsProcessingParameterNumber.Integer, 2000,
            False, 1, 10_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, "Device", options=DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESUME, "Resume from the checkpoint", defaultValue=False))
        advanced = [
            QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size",
                                         QgsProcessingParameterNumber.Integer, 8, False,
                                         2, 512),
            QgsProcessingParameterNumber(self.CROP, "Training crop (px, multiple of 16)",
                                         QgsProcessingParameterNumber.Integer, 256,
                                         False, 32, 2048),
            QgsProcessingParameterNumber(self.LEARNING_RATE, "Learning rate",
                                         QgsProcessingParameterNumber.Double, 2e-3,
                                         False, 1e-7, 1.0),
            QgsProcessingParameterNumber(self.SEED, "Random seed",
                                         QgsProcessingParameterNumber.Integer, 0, False,
                                         0),
        ]
        add_advanced(self, advanced)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "Model file", fileFilter="UGSNet model (*.pt)"))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", "Validation F1"))
        self.addOutput(QgsProcessingOutputNumber("VAL_IOU", "Validation IoU"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core.model_file import ModelFileError
        from ..core.train import (TrainConfig, TrainingCancelled, TrainingError,
                                  train_from_tiles)
        tiles = self.parameterAsFile(parameters, self.TILES, context) or None
        pairs = self.parameterAsFile(parameters, self.PAIRS, context) or None
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not output.lower().endswith(".pt"):
            raise QgsProcessingException(f"the model file {output} must end in .pt")
        steps = self.parameterAsInt(parameters, self.STEPS, context)
        cfg = TrainConfig(
            steps=steps, batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE,
                                                        context),
            crop=self.parameterAsInt(parameters, self.CROP, context),
            lr=self.parameterAsDouble(parameters, self.LEARNING_RATE, context),
            scale_range=(0.8, 1.25), seed=self.parameterAsInt(parameters, self.SEED,
                                                              context),
            validate_every=max(1, min(250, steps // 4)),
            checkpoint_every=max(1, min(250, steps // 4)))
        groups = tuple(g.strip() for g in self.parameterAsString(
            parameters, self.VAL_GROUPS, context).split(",") if g.strip())

        def progress(step, total, loss):
            feedback.setProgress(100.0 * step / total)
            if step % 10 == 0 or step == total:
                feedback.setProgressText(f"step {step}/{total}, loss {loss:.4f}")

        try:
            card = train_from_tiles(
                output, tiles, pairs,
                VARIANTS[self.parameterAsEnum(parameters, self.VARIANT, context)],
                self.parameterAsFile(parameters, self.BASE_MODEL, context) or None,
                groups, 0.2, cfg,
                DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
                output + ".ckpt", self.parameterAsBool(parameters, self.RESUME, context),
                progress=progress, is_canceled=feedback.isCanceled,
                log=feedback.pushInfo)
        except TrainingCancelled as err:
            raise QgsProcessingException(f"{err}; no model written. The checkpoint "
                                         f"{output}.ckpt lets you resume.") from None
        except (TrainingError, ModelFileError) as err:
            raise QgsProcessingException(str(err)) from None
        val = card["validation"]
        feedback.pushInfo(f"Validation: {val}")
        return {self.OUTPUT: output, "VAL_F1": val.get("f1"), "VAL_IOU": val.get("iou")}
