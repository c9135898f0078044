"""ugs:finetuneonreference: fine-tune a model on digitized green / not-green polygons
and report F1 on held-out polygons before and after."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core.workflows import finetune
from .common import MODELS, UgsAlgorithm, attach_style
from .options import add_options

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
        "blocks; on a VRT mosaic with marks on several frames, the marks of whole "
        "frames) is not trained on; the base and the fine-tuned model map their "
        "surroundings and F1, precision and recall of green space on them are reported "
        "before and after, in the log, as outputs and in the model card.<br>"
        "<b>Check field</b> (default <tt>check</tt>): marks with 1 there are the "
        "hold-out instead, and every other mark trains. <i>Suggest places to "
        "mark</i> adds such check squares at random; held-out marks placed where the "
        "model was unsure over-state the gain on the rest of the map, random ones do "
        "not.<br>"
        "<b>The check</b>: mixes of the base and the fine-tuned weights are scored "
        "on the held-out polygons and measured for how much of the map, away from "
        "every mark, they change (in all, and where the base was sure), and each "
        "maps the labelled sample shipped with the plugin, whose F1 must not fall "
        "far below the base's (marks that contradict what the imagery shows teach "
        "the model to map that sample worse); the log also gives the share each "
        "maps green away from the marks beside the base's. The mix furthest from "
        "the base that raises held-out F1 by the minimum gain within all three "
        "allowances is written; if none does, the base model is written again and "
        "the log says why (advanced: minimum gain, the allowances, accept "
        "always, and a file for the best candidate whatever the check decides). "
        "The check speaks for the parts of the raster its marks lie in: the log "
        "warns when they lie in half or fewer of its 4 x 4 parts.<br>"
        "<b>Iterations</b>: the default takes about two minutes with the light model "
        "on a laptop CPU. The labelled sample shipped with the plugin is mixed into "
        "every step so the model keeps what it knew; advanced options add the "
        "unsupervised terms of <i>Adapt model to region</i> (recolouring, "
        "adversarial).<br><br>"
        "<b>Outputs</b>: the model file and its card, for <i>Extract Urban Green "
        "Space</i>; optionally the maps by the fine-tuned and by the base model over "
        "the polygons' extent, side by side.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", self.tr("Reference polygons"),
            [qgis_compat.SOURCE_VECTOR_POLYGON]))
        add_options(self, finetune.OPTIONS)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Fine-tuned model file"),
            fileFilter="UGSNet model (*.pt)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_MAP", self.tr("Green space, fine-tuned model"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_BASE_MAP", self.tr("Green space, base model"), optional=True,
            createByDefault=False))
        candidate = QgsProcessingParameterFileDestination(
            "OUTPUT_CANDIDATE", self.tr("Fine-tuned model, kept or not"),
            fileFilter="UGSNet model (*.pt)", optional=True, createByDefault=False)
        candidate.setFlags(candidate.flags() | qgis_compat.FLAG_ADVANCED)
        self.addParameter(candidate)
        self.addOutput(QgsProcessingOutputNumber(
            "ACCEPTED", self.tr("Fine-tuned model accepted (1) or base kept (0)")))
        self.addOutput(QgsProcessingOutputString("DECISION", self.tr("Why")))
        self.addOutput(QgsProcessingOutputNumber("ROUND", self.tr("Round")))
        for when in ("BEFORE", "AFTER"):
            for score in SCORES:
                self.addOutput(QgsProcessingOutputNumber(
                    f"{score}_{when}",
                    self.tr(f"Held-out {score.lower()} {when.lower()}")))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", self.tr("Run time (s)")))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return self.build_request(
            parameters, context, image=self.raster_path(parameters, "INPUT", context),
            reference=self.vector_layer(parameters, "REFERENCE", context),
            output=value("OUTPUT", "FileOutput"),
            finetuned_map=value("OUTPUT_MAP", "OutputLayer") or None,
            base_map=value("OUTPUT_BASE_MAP", "OutputLayer") or None,
            candidate=value("OUTPUT_CANDIDATE", "FileOutput") or None)

    def outputs(self, result, parameters, context, feedback):
        results = {"OUTPUT": self.parameterAsFileOutput(parameters, "OUTPUT", context),
                   "SECONDS": round(result.seconds, 1), "ACCEPTED": int(result.accepted),
                   "DECISION": result.decision.reason if result.decision else "",
                   "ROUND": result.round}
        candidate = self.parameterAsFileOutput(parameters, "OUTPUT_CANDIDATE", context)
        if candidate:
            results["OUTPUT_CANDIDATE"] = candidate
        for when, scores in (("BEFORE", result.before), ("AFTER", result.after)):
            for score in SCORES:
                results[f"{score}_{when}"] = (scores or {}).get(score.lower())
        tuned = "fine-tuned" if result.accepted else "fine-tuned, not accepted"
        for key, name in (("OUTPUT_MAP", tuned), ("OUTPUT_BASE_MAP", "base")):
            path = self.parameterAsOutputLayer(parameters, key, context)
            if path:
                attach_style(context, path, "green_space.qml",
                             f"Green space, round {result.round} ({name})")
                results[key] = path
        return results
