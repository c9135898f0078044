"""ugs:finetuneonreference: fine-tune a model on digitized green / not-green polygons
and report F1 on held-out polygons before and after."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputNumber, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from .common import add_advanced, attach_style, reference_classes, require_engine
from .extract_green_space import DEVICES

SCORES = ("F1", "PRECISION", "RECALL")


class FinetuneOnReference(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    REFERENCE = "REFERENCE"
    FIELD = "FIELD"
    GREEN_VALUES = "GREEN_VALUES"
    MODEL = "MODEL"
    ITERATIONS = "ITERATIONS"
    DEVICE = "DEVICE"
    LEARNING_RATE = "LEARNING_RATE"
    CROP_SIZE = "CROP_SIZE"
    HOLDOUT = "HOLDOUT"
    SEED = "SEED"
    BANDS = "BANDS"
    SOURCE = "SOURCE"
    SOURCE_WEIGHT = "SOURCE_WEIGHT"
    MATCH_COLOURS = "MATCH_COLOURS"
    LAMBDA_ADV = "LAMBDA_ADV"
    OUTPUT = "OUTPUT"
    OUTPUT_MAP = "OUTPUT_MAP"
    OUTPUT_BASE_MAP = "OUTPUT_BASE_MAP"

    def createInstance(self):  # noqa: N802
        return FinetuneOnReference()

    def name(self):
        return "finetuneonreference"

    def displayName(self):  # noqa: N802
        return "Fine-tune model on reference polygons"

    def shortHelpString(self):  # noqa: N802
        return (
            "Teaches a UGSNet model your imagery from a few polygons you draw where the "
            "map is wrong, and shows whether the map got better.<br><br>"
            "<b>Reference polygons</b>: areas marked green space and not green space "
            "(toolbar: <i>Mark green space</i> / <i>Mark not green space</i>, or any "
            "polygon layer with a class field). About 20 small polygons of each class, "
            "spread over the raster, are enough (with 5 or 10 the result varies and "
            "can get worse): "
            "water, shadows, bare soil marked 'not green', lawns and trees the map "
            "missed marked 'green'. Pixels outside the polygons are not used as "
            "labels.<br>"
            "<b>Raster</b>: the imagery the polygons were drawn on (one raster; a VRT "
            "mosaic of several frames works).<br>"
            "<b>Held-out share</b>: that share of the polygons (whole polygons, in "
            "spatial blocks) is not trained on; the base and the fine-tuned model map "
            "their surroundings and F1, precision and recall of green space on them "
            "are reported before and after, in the log, as outputs and in the model "
            "card. If the held-out F1 drops, the log says so: keep the base model.<br>"
            "<b>Iterations</b>: the default takes about two minutes with the light "
            "model on a laptop CPU. The labelled sample shipped with the plugin is "
            "mixed into every step so the model keeps what it knew; advanced "
            "options add the unsupervised terms of <i>Adapt model to region</i> "
            "(recolouring, adversarial).<br><br>"
            "<b>Outputs</b>: the model file and its card, for <i>Extract Urban Green "
            "Space</i>; optionally the maps by the fine-tuned and by the base model over "
            "the polygons' extent, side by side.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REFERENCE, "Reference polygons", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField(
            self.FIELD, "Class field", "class", self.REFERENCE))
        self.addParameter(QgsProcessingParameterString(
            self.GREEN_VALUES, "Values meaning green space (comma-separated)", "1"))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, "Base model (empty = bundled model)", extension="pt",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.ITERATIONS, "Iterations", QgsProcessingParameterNumber.Integer, 300,
            False, 1, 1_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, "Device", options=DEVICES, defaultValue=0))
        add_advanced(self, [
            QgsProcessingParameterNumber(self.LEARNING_RATE, "Learning rate",
                                         QgsProcessingParameterNumber.Double, 2e-4, False,
                                         1e-8, 1.0),
            QgsProcessingParameterNumber(self.CROP_SIZE, "Crop size (px, multiple of 16)",
                                         QgsProcessingParameterNumber.Integer, 96, False,
                                         32, 1024),
            QgsProcessingParameterNumber(self.HOLDOUT, "Held-out share of the polygons",
                                         QgsProcessingParameterNumber.Double, 0.25, False,
                                         0.0, 0.9),
            QgsProcessingParameterNumber(self.SEED, "Random seed",
                                         QgsProcessingParameterNumber.Integer, 0, False, 0),
            QgsProcessingParameterString(
                self.BANDS, "Band mapping: band numbers of red, green, blue "
                "(empty = 1,2,3)", optional=True),
            QgsProcessingParameterFile(
                self.SOURCE, "Labelled source tiles, UGSet layout (empty = shipped "
                "sample)", QgsProcessingParameterFile.Folder, optional=True),
            QgsProcessingParameterNumber(self.SOURCE_WEIGHT, "Weight of the source tiles "
                                         "(0 = none)", QgsProcessingParameterNumber.Double,
                                         1.0, False, 0.0, 10.0),
            QgsProcessingParameterBoolean(self.MATCH_COLOURS, "Recolour source tiles to "
                                          "the raster's colours", defaultValue=False),
            QgsProcessingParameterNumber(self.LAMBDA_ADV, "Adversarial weight (0 = off)",
                                         QgsProcessingParameterNumber.Double, 0.0, False,
                                         0.0, 10.0),
        ])
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "Fine-tuned model file", fileFilter="UGSNet model (*.pt)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_MAP, "Green space, fine-tuned model", optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_BASE_MAP, "Green space, base model", optional=True,
            createByDefault=False))
        for when in ("BEFORE", "AFTER"):
            for score in SCORES:
                self.addOutput(QgsProcessingOutputNumber(
                    f"{score}_{when}", f"Held-out {score.lower()} {when.lower()}"))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", "Run time (s)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core.finetune import (FinetuneCancelled, FinetuneConfig, FinetuneError,
                                     finetune_on_reference)
        from ..core.imagery import ImageryError, parse_band_list
        from ..core.model_file import ModelFileError
        from ..core.predict import PredictError

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        source = self.parameterAsSource(parameters, self.REFERENCE, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters,
                                                                 self.REFERENCE))
        field = self.parameterAsString(parameters, self.FIELD, context) or "class"
        if source.fields().indexOf(field) < 0:
            raise QgsProcessingException(f"the reference layer has no field '{field}'")
        green = [v.strip() for v in self.parameterAsString(
            parameters, self.GREEN_VALUES, context).split(",") if v.strip()] or ["1"]
        reference = [(g, v) for g, v, _ in reference_classes(
            source, field, green, layer.crs(), context, feedback)]
        try:
            bands = parse_band_list(self.parameterAsString(parameters, self.BANDS,
                                                           context))
        except ImageryError as err:
            raise QgsProcessingException(str(err)) from None
        cfg = FinetuneConfig(
            iterations=self.parameterAsInt(parameters, self.ITERATIONS, context),
            lr=self.parameterAsDouble(parameters, self.LEARNING_RATE, context),
            crop=self.parameterAsInt(parameters, self.CROP_SIZE, context),
            holdout=self.parameterAsDouble(parameters, self.HOLDOUT, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            source_weight=self.parameterAsDouble(parameters, self.SOURCE_WEIGHT, context),
            match_colours=self.parameterAsBool(parameters, self.MATCH_COLOURS, context),
            lambda_adv=self.parameterAsDouble(parameters, self.LAMBDA_ADV, context))
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        maps = {"finetuned": self.parameterAsOutputLayer(parameters, self.OUTPUT_MAP,
                                                         context),
                "base": self.parameterAsOutputLayer(parameters, self.OUTPUT_BASE_MAP,
                                                    context)}

        def progress(fraction, text):
            feedback.setProgress(100.0 * fraction)
            feedback.setProgressText(text)

        try:
            result = finetune_on_reference(
                layer.source(), reference, output,
                self.parameterAsFile(parameters, self.MODEL, context) or None, cfg,
                DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)], bands,
                self.parameterAsFile(parameters, self.SOURCE, context) or None,
                {k: v for k, v in maps.items() if v},
                layer.crs().authid() or layer.crs().toWkt(), progress,
                feedback.isCanceled, feedback.pushInfo, feedback.pushWarning)
        except FinetuneCancelled as err:
            raise QgsProcessingException(str(err)) from None
        except (FinetuneError, ModelFileError, PredictError) as err:
            raise QgsProcessingException(str(err)) from None
        results = {self.OUTPUT: output, "SECONDS": round(result.seconds, 1)}
        for when, scores in (("BEFORE", result.before), ("AFTER", result.after)):
            for score in SCORES:
                results[f"{score}_{when}"] = (scores or {}).get(score.lower())
        for key, which in ((self.OUTPUT_MAP, "finetuned"),
                           (self.OUTPUT_BASE_MAP, "base")):
            if maps[which]:
                attach_style(context, maps[which], "green_space.qml",
                             "Green space (fine-tuned model)" if which == "finetuned"
                             else "Green space (base model)")
                results[key] = maps[which]
        return results
