"""ugs:adapttoregion: adversarial fine-tuning of a model to the imagery of a region."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputNumber, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from .common import (add_advanced, attach_style, boundary_from_source, reference_classes,
                     require_engine)
from .extract_green_space import DEVICES


class AdaptToRegion(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    REGION = "REGION"
    MODEL = "MODEL"
    SOURCE = "SOURCE"
    ITERATIONS = "ITERATIONS"
    DEVICE = "DEVICE"
    REFERENCE = "REFERENCE"
    FIELD = "FIELD"
    GREEN_VALUES = "GREEN_VALUES"
    BANDS = "BANDS"
    TILE_SIZE = "TILE_SIZE"
    BATCH_SIZE = "BATCH_SIZE"
    LAMBDA_ADV = "LAMBDA_ADV"
    LR_GENERATOR = "LR_GENERATOR"
    LR_DISCRIMINATOR = "LR_DISCRIMINATOR"
    MATCH_COLOURS = "MATCH_COLOURS"
    SEED = "SEED"
    OUTPUT = "OUTPUT"
    OUTPUT_ADAPTED = "OUTPUT_ADAPTED"
    OUTPUT_BASE = "OUTPUT_BASE"

    def createInstance(self):  # noqa: N802
        return AdaptToRegion()

    def name(self):
        return "adapttoregion"

    def displayName(self):  # noqa: N802
        return "Adapt model to region (adversarial)"

    def shortHelpString(self):  # noqa: N802
        return (
            "Fine-tunes a UGSNet model to the imagery inside a region you choose, "
            "without labels, and writes a new model file for <i>Extract Urban Green "
            "Space</i>. Use it when the map on your imagery looks worse than on the "
            "imagery the model was trained on (other sensor, season or colours).<br><br>"
            "<b>How</b>: output-space adversarial training (AdaptSegNet, as in the "
            "UGS-1m method): a patch discriminator learns to tell the model's maps of "
            "labelled <i>source</i> tiles from its maps of your region, and the model "
            "learns to make them indistinguishable while it keeps learning the source "
            "labels. By default the source tiles are also recoloured to your region's "
            "colour statistics, which on our tests did most of the improvement.<br>"
            "<b>Region</b>: polygons over your imagery (draw one with the toolbar's "
            "<i>Draw adaptation region</i>); a few hundred metres across is enough. "
            "Tiles are drawn at random inside it.<br>"
            "<b>Source tiles</b>: empty = the labelled sample shipped with the plugin "
            "(from the bundled model's training data); or a folder in the UGSet layout "
            "(<tt>images/</tt> + <tt>masks/</tt>, matching names).<br>"
            "<b>Reference polygons</b> (optional, beyond the method): green / other "
            "polygons you digitized inside the region are used as extra labels.<br>"
            "<b>Iterations</b>: the default is a quick run (a minute or two with the "
            "light model on a laptop CPU). Progress shows the segmentation, "
            "adversarial and discriminator losses; cancelling writes nothing.<br><br>"
            "<b>Outputs</b>: the model file and its card (parent model, region, "
            "raster, settings, losses, date); optionally the extraction over the "
            "region with the adapted model and with the base model, to compare. "
            "Check the result against reference data (<i>Assess accuracy</i>) before "
            "you map a whole city with it.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Target image"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REGION, "Adaptation region", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, "Base model (empty = bundled model)", extension="pt",
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.SOURCE, "Source tiles, UGSet layout (empty = shipped sample)",
            QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.ITERATIONS, "Iterations", QgsProcessingParameterNumber.Integer, 150,
            False, 1, 1_000_000))
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, "Device", options=DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REFERENCE, "Reference polygons inside the region (optional)",
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.FIELD, "Reference class field", "class", self.REFERENCE, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.GREEN_VALUES, "Values meaning green space (comma-separated)", "1",
            optional=True))
        advanced = [
            QgsProcessingParameterString(
                self.BANDS, "Band mapping: band numbers of red, green, blue "
                "(empty = 1,2,3)", optional=True),
            QgsProcessingParameterNumber(self.TILE_SIZE, "Tile size (px, multiple of 16)",
                                         QgsProcessingParameterNumber.Integer, 128,
                                         False, 64, 1024),
            QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size (tiles per domain)",
                                         QgsProcessingParameterNumber.Integer, 4, False,
                                         1, 64),
            QgsProcessingParameterNumber(self.LAMBDA_ADV, "Adversarial weight (lambda_adv)",
                                         QgsProcessingParameterNumber.Double, 0.001,
                                         False, 0.0, 10.0),
            QgsProcessingParameterNumber(self.LR_GENERATOR, "Model learning rate",
                                         QgsProcessingParameterNumber.Double, 2.5e-4,
                                         False, 1e-8, 1.0),
            QgsProcessingParameterNumber(self.LR_DISCRIMINATOR,
                                         "Discriminator learning rate",
                                         QgsProcessingParameterNumber.Double, 1e-4,
                                         False, 1e-8, 1.0),
            QgsProcessingParameterBoolean(self.MATCH_COLOURS,
                                          "Recolour source tiles to the region's colours",
                                          defaultValue=True),
            QgsProcessingParameterNumber(self.SEED, "Random seed",
                                         QgsProcessingParameterNumber.Integer, 0, False,
                                         0),
        ]
        add_advanced(self, advanced)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "Adapted model file", fileFilter="UGSNet model (*.pt)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_ADAPTED, "Green space over the region, adapted model",
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_BASE, "Green space over the region, base model", optional=True,
            createByDefault=False))
        for name, text in (("DISC_LOSS_FIRST", "Discriminator loss, first iterations"),
                           ("DISC_LOSS_LAST", "Discriminator loss, last iterations"),
                           ("SEG_LOSS_LAST", "Segmentation loss, last iterations"),
                           ("SECONDS", "Training time (s)")):
            self.addOutput(QgsProcessingOutputNumber(name, text))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core.adapt import (AdaptConfig, AdaptationCancelled, AdaptationError,
                                  adapt_to_region, predict_region)
        from ..core.imagery import ImageryError, parse_band_list
        from ..core.model_file import ModelFileError, load_model
        from ..core.predict import Cancelled, PredictError

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        region_source = self.parameterAsSource(parameters, self.REGION, context)
        if region_source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.REGION))
        region = boundary_from_source(region_source, layer, context, "The region")
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        reference = None
        ref_source = self.parameterAsSource(parameters, self.REFERENCE, context)
        if ref_source is not None:
            field = self.parameterAsString(parameters, self.FIELD, context) or "class"
            if ref_source.fields().indexOf(field) < 0:
                raise QgsProcessingException(f"the reference layer has no field "
                                             f"'{field}'")
            green = [v.strip() for v in self.parameterAsString(
                parameters, self.GREEN_VALUES, context).split(",") if v.strip()] or ["1"]
            reference = [(g, v == 1) for g, v, _ in reference_classes(
                ref_source, field, green, layer.crs(), context, feedback)]
        try:
            bands = parse_band_list(self.parameterAsString(parameters, self.BANDS,
                                                           context))
        except ImageryError as err:
            raise QgsProcessingException(str(err)) from None
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        if tile % 16:
            raise QgsProcessingException(f"tile size {tile} must be a multiple of 16")
        cfg = AdaptConfig(
            iterations=self.parameterAsInt(parameters, self.ITERATIONS, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            tile=tile,
            lambda_adv=self.parameterAsDouble(parameters, self.LAMBDA_ADV, context),
            lr_generator=self.parameterAsDouble(parameters, self.LR_GENERATOR, context),
            lr_discriminator=self.parameterAsDouble(parameters, self.LR_DISCRIMINATOR,
                                                    context),
            match_colours=self.parameterAsBool(parameters, self.MATCH_COLOURS, context),
            seed=self.parameterAsInt(parameters, self.SEED, context))
        base_model = self.parameterAsFile(parameters, self.MODEL, context) or None
        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)]
        maps = [(key, self.parameterAsOutputLayer(parameters, key, context))
                for key in (self.OUTPUT_ADAPTED, self.OUTPUT_BASE)]
        maps = [(k, path) for k, path in maps if path]
        share = 100.0 if not maps else 80.0

        def progress(it, total, history):
            feedback.setProgress(share * it / total)
            if it == 1 or it % 10 == 0 or it == total:
                text = (f"iteration {it}/{total}: segmentation {history['seg'][-1]:.4f}, "
                        f"adversarial {history['adv'][-1]:.4f}, discriminator "
                        f"{history['disc'][-1]:.4f}")
                if "reference" in history:
                    text += f", reference {history['reference'][-1]:.4f}"
                feedback.setProgressText(text)
                feedback.pushDebugInfo(text)

        try:
            card = adapt_to_region(
                layer.source(), region, output, base_model,
                self.parameterAsFile(parameters, self.SOURCE, context) or None, cfg,
                device, bands, reference=reference,
                region_crs=layer.crs().authid() or layer.crs().toWkt(),
                progress=progress, is_canceled=feedback.isCanceled,
                log=feedback.pushInfo)
        except AdaptationCancelled as err:
            raise QgsProcessingException(f"{err}; no model written") from None
        except (AdaptationError, ModelFileError) as err:
            raise QgsProcessingException(str(err)) from None
        info = card["adaptation"]
        feedback.pushInfo(f"Losses, first → last iterations: {info['losses_first']} → "
                          f"{info['losses_last']}")
        results = {self.OUTPUT: output,
                   "DISC_LOSS_FIRST": info["losses_first"]["disc"],
                   "DISC_LOSS_LAST": info["losses_last"]["disc"],
                   "SEG_LOSS_LAST": info["losses_last"]["seg"],
                   "SECONDS": info["seconds"]}
        for n, (key, path) in enumerate(maps):
            which = "adapted" if key == self.OUTPUT_ADAPTED else "base"
            model, model_card = load_model(output if which == "adapted" else base_model,
                                           device)
            feedback.pushInfo(f"Mapping the region with the {which} model…")
            start = share + n * (100.0 - share) / len(maps)

            def map_progress(done, total, start=start):
                feedback.setProgress(start + (100.0 - share) / len(maps) * done / total)

            try:
                predict_region(layer.source(), region, path, model, model_card,
                               progress=map_progress, is_canceled=feedback.isCanceled,
                               log=feedback.pushInfo)
            except Cancelled:
                raise QgsProcessingException(
                    f"cancelled while mapping; the model {output} is complete") from None
            except PredictError as err:
                raise QgsProcessingException(str(err)) from None
            attach_style(context, path, "green_space.qml",
                         f"Green space ({which} model)")
            results[key] = path
        return results
