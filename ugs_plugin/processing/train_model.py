"""ugs:trainmodel: supervised training / fine-tuning on labelled tiles."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import qgis_compat
from ..qgis_compat import NUMBER_DOUBLE, NUMBER_INTEGER
from ..core.config import DEVICES, TrainConfig, VARIANTS
from ..core.vectors import parse_values
from ..core.workflows import train
from .common import MODELS, UgsAlgorithm, add_advanced
from .settings import default_device_index


class TrainModel(UgsAlgorithm):
    NAME = "trainmodel"
    DISPLAY_NAME = "Train model on labelled tiles"
    GROUP = MODELS
    NEEDS_TORCH = True
    TAGS = ("UGSNet", "training", "UGSet", "tiles", "deep learning", "fine-tune")
    HELP_ANCHOR = "models"
    use_case = train
    HELP = (
        "Trains UGSNet (or fine-tunes an existing model) on labelled tiles and writes a "
        "model file with its card, usable by <i>Extract Urban Green Space</i>.<br><br>"
        "<b>Tiles</b>: a folder in the UGSet layout: <tt>images/</tt> and "
        "<tt>masks/</tt> with matching file names; masks 1 (or 255) = green space, 0 = "
        "other, any other value ignored. Or a text file listing <tt>image,mask</tt> "
        "GeoTIFF pairs, one per line.<br>"
        "<b>Validation</b> takes whole groups of tiles (the name without its trailing "
        "number, e.g. <tt>city_2020</tt>), never random tiles of the same scene: name "
        "them, or the smallest groups (about the validation fraction) are used; "
        "fraction 0 trains on every tile without validation.<br>"
        "Training saves a checkpoint (model path + <tt>.ckpt</tt>) regularly and when "
        "cancelled; tick <i>Resume</i> to continue it. The full model needs a GPU to "
        "train in reasonable time; the light one trains on a CPU.")

    def initAlgorithm(self, config=None):  # noqa: N802
        d, r = TrainConfig(), train.TrainRequest("")
        number = QgsProcessingParameterNumber
        self.addParameter(QgsProcessingParameterFile(
            "TILES", self.tr("Tile folder (UGSet layout)"),
            qgis_compat.FILE_FOLDER, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "PAIRS", self.tr("or: file of image,mask pairs"), optional=True,
            fileFilter="Text files (*.txt *.csv)"))
        self.addParameter(QgsProcessingParameterEnum(
            "VARIANT", self.tr("Model variant"), options=list(VARIANTS),
            defaultValue=VARIANTS.index(r.variant)))
        self.addParameter(QgsProcessingParameterFile(
            "BASE_MODEL", self.tr("Fine-tune this model"), extension="pt",
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            "VAL_GROUPS", self.tr("Validation groups, comma-separated (empty = "
                                  "automatic)"), optional=True))
        self.addParameter(number("STEPS", self.tr("Training steps"), NUMBER_INTEGER,
                                 d.steps, False, 1, 10_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            "DEVICE", self.tr("Device"), options=list(DEVICES),
            defaultValue=default_device_index()))
        self.addParameter(QgsProcessingParameterBoolean(
            "RESUME", self.tr("Resume from the checkpoint"), defaultValue=r.resume))
        add_advanced(self, [
            number("VAL_FRACTION", self.tr("Validation fraction (0 = no validation)"),
                   NUMBER_DOUBLE, r.validation_fraction, False, 0.0, 0.9),
            number("BATCH_SIZE", self.tr("Batch size"), NUMBER_INTEGER, d.batch_size,
                   False, 2, 512),
            number("CROP", self.tr("Training crop (px, multiple of 16)"),
                   NUMBER_INTEGER, d.crop, False, 32, 2048),
            number("LEARNING_RATE", self.tr("Learning rate"), NUMBER_DOUBLE, d.lr,
                   False, 1e-7, 1.0),
            number("SEED", self.tr("Random seed"), NUMBER_INTEGER, d.seed, False, 0),
        ])
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Model file"), fileFilter="UGSNet model (*.pt)"))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", self.tr("Validation F1")))
        self.addOutput(QgsProcessingOutputNumber("VAL_IOU", self.tr("Validation IoU")))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return train.TrainRequest(
            output=value("OUTPUT", "FileOutput"),
            tiles=value("TILES", "File") or None, pairs=value("PAIRS", "File") or None,
            variant=VARIANTS[value("VARIANT", "Enum")],
            base_model=value("BASE_MODEL", "File") or None,
            validation_groups=parse_values(value("VAL_GROUPS", "String"), ()),
            validation_fraction=value("VAL_FRACTION", "Double"),
            device=self.device(parameters, context), resume=value("RESUME", "Bool"),
            config=TrainConfig(
                steps=value("STEPS", "Int"), batch_size=value("BATCH_SIZE", "Int"),
                crop=value("CROP", "Int"), lr=value("LEARNING_RATE", "Double"),
                seed=value("SEED", "Int")))

    def outputs(self, result, parameters, context, feedback):
        return {"OUTPUT": result.output, "VAL_F1": result.validation.get("f1"),
                "VAL_IOU": result.validation.get("iou")}
