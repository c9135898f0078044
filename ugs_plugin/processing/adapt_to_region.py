"""ugs:adapttoregion: adversarial fine-tuning of a model to a drawn region."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core.workflows import adapt
from .common import MODELS, UgsAlgorithm, attach_style
from .options import add_options


class AdaptToRegion(UgsAlgorithm):
    NAME = "adapttoregion"
    DISPLAY_NAME = "Adapt model to region (adversarial)"
    GROUP = MODELS
    NEEDS_TORCH = True
    TAGS = ("UGSNet", "domain adaptation", "adversarial", "AdaptSegNet", "fine-tune",
            "region")
    HELP_ANCHOR = "adapting-the-model-to-your-imagery-ugsadapttoregion"
    use_case = adapt
    HELP = (
        "Fine-tunes a UGSNet model to the imagery inside a region you choose, without "
        "labels, and writes a new model file for <i>Extract Urban Green Space</i>. Use "
        "it when the map on your imagery looks worse than on the imagery the model was "
        "trained on (other sensor, season or colours).<br><br>"
        "<b>How</b>: output-space adversarial training (AdaptSegNet, as in the UGS-1m "
        "method): a patch discriminator learns to tell the model's maps of labelled "
        "<i>source</i> tiles from its maps of your region, and the model learns to make "
        "them indistinguishable while it keeps learning the source labels. By default "
        "the source tiles are also recoloured to your region's colour statistics, "
        "which on our tests did most of the improvement.<br>"
        "<b>Region</b>: polygons over your imagery (draw one with the toolbar's "
        "<i>Draw adaptation region</i>); a few hundred metres across is enough. Tiles "
        "are drawn at random inside it.<br>"
        "<b>Source tiles</b>: empty = the labelled sample shipped with the plugin (from "
        "the bundled model's training data); or a folder in the UGSet layout "
        "(<tt>images/</tt> + <tt>masks/</tt>, matching names).<br>"
        "<b>Reference polygons</b> (optional, beyond the method): green / other "
        "polygons you digitized inside the region are used as extra labels.<br>"
        "<b>Iterations</b>: the default is a quick run (a minute or two with the light "
        "model on a laptop CPU). Progress shows the segmentation, adversarial and "
        "discriminator losses; cancelling writes nothing.<br><br>"
        "<b>Outputs</b>: the model file and its card (parent model, region, raster, "
        "settings, losses, date); optionally the extraction over the region with the "
        "adapted model and with the base model, to compare. Check the result against "
        "reference data (<i>Assess accuracy</i>) before you map a whole city with it.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT",
                                                            self.tr("Target image")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REGION", self.tr("Adaptation region"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", self.tr("Reference polygons inside the region"),
            [qgis_compat.SOURCE_VECTOR_POLYGON], optional=True))
        add_options(self, adapt.OPTIONS)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Adapted model file"), fileFilter="UGSNet model (*.pt)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_ADAPTED", self.tr("Green space over the region, adapted model"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_BASE", self.tr("Green space over the region, base model"),
            optional=True, createByDefault=False))
        for name, text in (("DISC_LOSS_FIRST", "Discriminator loss, first iterations"),
                           ("DISC_LOSS_LAST", "Discriminator loss, last iterations"),
                           ("SEG_LOSS_LAST", "Segmentation loss, last iterations"),
                           ("SECONDS", "Training time (s)")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(text)))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return self.build_request(
            parameters, context, image=self.raster_path(parameters, "INPUT", context),
            region=self.vector_layer(parameters, "REGION", context),
            reference=self.vector_layer(parameters, "REFERENCE", context, optional=True),
            output=value("OUTPUT", "FileOutput"),
            adapted_map=value("OUTPUT_ADAPTED", "OutputLayer") or None,
            base_map=value("OUTPUT_BASE", "OutputLayer") or None)

    def outputs(self, result, parameters, context, feedback):
        info = result.adaptation
        results = {"OUTPUT": result.output,
                   "DISC_LOSS_FIRST": info["losses_first"]["disc"],
                   "DISC_LOSS_LAST": info["losses_last"]["disc"],
                   "SEG_LOSS_LAST": info["losses_last"]["seg"],
                   "SECONDS": info["seconds"]}
        for which, key in (("adapted", "OUTPUT_ADAPTED"), ("base", "OUTPUT_BASE")):
            if which in result.maps:
                results[key] = result.maps[which]
                attach_style(context, results[key], "green_space.qml",
                             f"Green space ({which} model)")
        return results
