"""ugs:finetuneonreference: fine-tune a model on digitized green / not-green polygons
and report F1 on held-out polygons before and after."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .. import qgis_compat
from ..qgis_compat import NUMBER_DOUBLE, NUMBER_INTEGER
from ..core.config import DEVICES, FinetuneConfig
from ..core.mapping.imagery import parse_band_list
from ..core.vectors import parse_values
from ..core.workflows import finetune
from .common import MODELS, UgsAlgorithm, add_advanced, attach_style
from .settings import default_device_index

SCORES = ("F1", "PRECISION", "RECALL")


class FinetuneOnReference(UgsAlgorithm):
    NAME = "finetuneonreference"
    DISPLAY_NAME = "Fine-tune model on reference polygons"
    GROUP = MODELS
    NEEDS_TORCH = True
    TAGS = ("UGSNet", "fine-tune", "training", "reference", "polygons", "correct")
    HELP_ANCHOR = ("teaching-the-model-your-imagery-fine-tune-on-a-few-polygons-"
                   "ugsfinetuneonreference")
    use_case = finetune
    HELP = (
        "Teaches a UGSNet model your imagery from a few polygons you draw where the "
        "map is wrong, and shows whether the map got better.<br><br>"
        "<b>Reference polygons</b>: areas marked green space and not green space "
        "(toolbar: <i>Mark green space</i> / <i>Mark not green space</i>, or any "
        "polygon layer with a class field). About 20 small polygons of each class, "
        "spread over the raster, are enough (with 5 or 10 the result varies and can "
        "get worse): water, shadows, bare soil marked 'not green', lawns and trees the "
        "map missed marked 'green'. Pixels outside the polygons are not used as "
        "labels.<br>"
        "<b>Raster</b>: the imagery the polygons were drawn on (one raster; a VRT "
        "mosaic of several frames works).<br>"
        "<b>Held-out share</b>: that share of the polygons (whole polygons, in spatial "
        "blocks) is not trained on; the base and the fine-tuned model map their "
        "surroundings and F1, precision and recall of green space on them are reported "
        "before and after, in the log, as outputs and in the model card. If the "
        "held-out F1 drops, the log says so: keep the base model.<br>"
        "<b>Iterations</b>: the default takes about two minutes with the light model "
        "on a laptop CPU. The labelled sample shipped with the plugin is mixed into "
        "every step so the model keeps what it knew; advanced options add the "
        "unsupervised terms of <i>Adapt model to region</i> (recolouring, "
        "adversarial).<br><br>"
        "<b>Outputs</b>: the model file and its card, for <i>Extract Urban Green "
        "Space</i>; optionally the maps by the fine-tuned and by the base model over "
        "the polygons' extent, side by side.")

    def initAlgorithm(self, config=None):  # noqa: N802
        d = FinetuneConfig()
        number = QgsProcessingParameterNumber
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", self.tr("Reference polygons"),
            [qgis_compat.SOURCE_VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", self.tr("Class field"), "class", "REFERENCE"))
        self.addParameter(QgsProcessingParameterString(
            "GREEN_VALUES", self.tr("Values meaning green space (comma-separated)"),
            "1"))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Base model (empty = bundled model)"), extension="pt",
            optional=True))
        self.addParameter(number("ITERATIONS", self.tr("Iterations"), NUMBER_INTEGER,
                                 d.iterations, False, 1, 1_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            "DEVICE", self.tr("Device"), options=list(DEVICES),
            defaultValue=default_device_index()))
        add_advanced(self, [
            number("LEARNING_RATE", self.tr("Learning rate"), NUMBER_DOUBLE, d.lr,
                   False, 1e-8, 1.0),
            number("CROP_SIZE", self.tr("Crop size (px, multiple of 16)"),
                   NUMBER_INTEGER, d.crop, False, 32, 1024),
            number("HOLDOUT", self.tr("Held-out share of the polygons"), NUMBER_DOUBLE,
                   d.holdout, False, 0.0, 0.9),
            number("SEED", self.tr("Random seed"), NUMBER_INTEGER, d.seed, False, 0),
            QgsProcessingParameterString(
                "BANDS", self.tr("Band mapping: band numbers of red, green, blue (empty "
                                 "= 1,2,3)"), optional=True),
            QgsProcessingParameterFile(
                "SOURCE", self.tr("Labelled source tiles, UGSet layout (empty = shipped "
                                  "sample)"), qgis_compat.FILE_FOLDER,
                optional=True),
            number("SOURCE_WEIGHT", self.tr("Weight of the source tiles (0 = none)"),
                   NUMBER_DOUBLE, d.source_weight, False, 0.0, 10.0),
            QgsProcessingParameterBoolean(
                "MATCH_COLOURS", self.tr("Recolour source tiles to the raster's colours"),
                defaultValue=d.match_colours),
            number("LAMBDA_ADV", self.tr("Adversarial weight (0 = off)"), NUMBER_DOUBLE,
                   d.lambda_adv, False, 0.0, 10.0),
        ])
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Fine-tuned model file"),
            fileFilter="UGSNet model (*.pt)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_MAP", self.tr("Green space, fine-tuned model"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_BASE_MAP", self.tr("Green space, base model"), optional=True,
            createByDefault=False))
        for when in ("BEFORE", "AFTER"):
            for score in SCORES:
                self.addOutput(QgsProcessingOutputNumber(
                    f"{score}_{when}",
                    self.tr(f"Held-out {score.lower()} {when.lower()}")))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", self.tr("Run time (s)")))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return finetune.FinetuneRequest(
            image=self.raster_path(parameters, "INPUT", context),
            reference=self.vector_layer(parameters, "REFERENCE", context),
            output=value("OUTPUT", "FileOutput"),
            class_field=value("FIELD", "String") or "class",
            green_values=parse_values(value("GREEN_VALUES", "String")),
            model=value("MODEL", "File") or None,
            device=self.device(parameters, context),
            bands=parse_band_list(value("BANDS", "String")),
            source=value("SOURCE", "File") or None,
            finetuned_map=value("OUTPUT_MAP", "OutputLayer") or None,
            base_map=value("OUTPUT_BASE_MAP", "OutputLayer") or None,
            config=FinetuneConfig(
                iterations=value("ITERATIONS", "Int"), lr=value("LEARNING_RATE", "Double"),
                crop=value("CROP_SIZE", "Int"), holdout=value("HOLDOUT", "Double"),
                seed=value("SEED", "Int"), source_weight=value("SOURCE_WEIGHT", "Double"),
                match_colours=value("MATCH_COLOURS", "Bool"),
                lambda_adv=value("LAMBDA_ADV", "Double")))

    def outputs(self, result, parameters, context, feedback):
        results = {"OUTPUT": self.parameterAsFileOutput(parameters, "OUTPUT", context),
                   "SECONDS": round(result.seconds, 1)}
        for when, scores in (("BEFORE", result.before), ("AFTER", result.after)):
            for score in SCORES:
                results[f"{score}_{when}"] = (scores or {}).get(score.lower())
        for key, which, name in (("OUTPUT_MAP", "finetuned", "fine-tuned"),
                                 ("OUTPUT_BASE_MAP", "base", "base")):
            path = self.parameterAsOutputLayer(parameters, key, context)
            if path:
                attach_style(context, path, "green_space.qml", f"Green space ({name} "
                             "model)")
                results[key] = path
        return results
