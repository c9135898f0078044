"""ugs:adapttoregion: adversarial fine-tuning of a model to a drawn region."""
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
from ..core.config import AdaptConfig, DEVICES
from ..core.mapping.imagery import parse_band_list
from ..core.vectors import parse_values
from ..core.workflows import adapt
from .common import MODELS, UgsAlgorithm, add_advanced, attach_style
from .settings import default_device_index


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
        d = AdaptConfig()
        number = QgsProcessingParameterNumber
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT",
                                                            self.tr("Target image")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REGION", self.tr("Adaptation region"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Base model (empty = bundled model)"), extension="pt",
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "SOURCE", self.tr("Source tiles, UGSet layout (empty = shipped sample)"),
            qgis_compat.FILE_FOLDER, optional=True))
        self.addParameter(number("ITERATIONS", self.tr("Iterations"), NUMBER_INTEGER,
                                 d.iterations, False, 1, 1_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            "DEVICE", self.tr("Device"), options=list(DEVICES),
            defaultValue=default_device_index()))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", self.tr("Reference polygons inside the region"),
            [qgis_compat.SOURCE_VECTOR_POLYGON], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", self.tr("Reference class field"), "class", "REFERENCE",
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            "GREEN_VALUES", self.tr("Values meaning green space (comma-separated)"),
            "1", optional=True))
        add_advanced(self, [
            QgsProcessingParameterString(
                "BANDS", self.tr("Band mapping: band numbers of red, green, blue (empty "
                                 "= 1,2,3)"), optional=True),
            number("TILE_SIZE", self.tr("Tile size (px, multiple of 16)"),
                   NUMBER_INTEGER, d.tile, False, 64, 1024),
            number("BATCH_SIZE", self.tr("Batch size (tiles per domain)"),
                   NUMBER_INTEGER, d.batch_size, False, 1, 64),
            number("LAMBDA_ADV", self.tr("Adversarial weight (lambda_adv)"),
                   NUMBER_DOUBLE, d.lambda_adv, False, 0.0, 10.0),
            number("LR_GENERATOR", self.tr("Model learning rate"), NUMBER_DOUBLE,
                   d.lr_generator, False, 1e-8, 1.0),
            number("LR_DISCRIMINATOR", self.tr("Discriminator learning rate"),
                   NUMBER_DOUBLE, d.lr_discriminator, False, 1e-8, 1.0),
            QgsProcessingParameterBoolean(
                "MATCH_COLOURS", self.tr("Recolour source tiles to the region's colours"),
                defaultValue=d.match_colours),
            number("SEED", self.tr("Random seed"), NUMBER_INTEGER, d.seed, False, 0),
        ])
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
        return adapt.AdaptRequest(
            image=self.raster_path(parameters, "INPUT", context),
            region=self.vector_layer(parameters, "REGION", context),
            output=value("OUTPUT", "FileOutput"),
            model=value("MODEL", "File") or None,
            source=value("SOURCE", "File") or None,
            device=self.device(parameters, context),
            bands=parse_band_list(value("BANDS", "String")),
            reference=self.vector_layer(parameters, "REFERENCE", context, optional=True),
            class_field=value("FIELD", "String") or "class",
            green_values=parse_values(value("GREEN_VALUES", "String")),
            adapted_map=value("OUTPUT_ADAPTED", "OutputLayer") or None,
            base_map=value("OUTPUT_BASE", "OutputLayer") or None,
            config=AdaptConfig(
                iterations=value("ITERATIONS", "Int"),
                batch_size=value("BATCH_SIZE", "Int"), tile=value("TILE_SIZE", "Int"),
                lambda_adv=value("LAMBDA_ADV", "Double"),
                lr_generator=value("LR_GENERATOR", "Double"),
                lr_discriminator=value("LR_DISCRIMINATOR", "Double"),
                match_colours=value("MATCH_COLOURS", "Bool"), seed=value("SEED", "Int")))

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
