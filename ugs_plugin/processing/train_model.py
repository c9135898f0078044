"""ugs:trainmodel: supervised training / fine-tuning on labelled tiles."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from .. import qgis_compat
from ..core.workflows import train
from .common import MODELS, UgsAlgorithm
from .options import add_options


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
        self.addParameter(QgsProcessingParameterFile(
            "TILES", self.tr("Tile folder (UGSet layout)"),
            qgis_compat.FILE_FOLDER, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "PAIRS", self.tr("or: file of image,mask pairs"), optional=True,
            fileFilter="Text files (*.txt *.csv)"))
        add_options(self, train.OPTIONS)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Model file"), fileFilter="UGSNet model (*.pt)"))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", self.tr("Validation F1")))
        self.addOutput(QgsProcessingOutputNumber("VAL_IOU", self.tr("Validation IoU")))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return self.build_request(
            parameters, context, output=value("OUTPUT", "FileOutput"),
            tiles=value("TILES", "File") or None, pairs=value("PAIRS", "File") or None)

    def outputs(self, result, parameters, context, feedback):
        return {"OUTPUT": result.output, "VAL_F1": result.validation.get("f1"),
                "VAL_IOU": result.validation.get("iou")}
