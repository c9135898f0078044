"""ugs:extracturbangreenspace: UGSNet inference over a raster."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm,
                       QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination)

from .common import add_advanced, attach_style, boundary_from_source, require_engine

DEVICES = ["auto", "cpu", "cuda"]


def add_model_parameters(alg):
    """MODEL, BANDS, DEVICE and the advanced tiling parameters, shared by every
    algorithm that runs the extraction."""
    alg.addParameter(QgsProcessingParameterFile(
        "MODEL", "Model file (empty = bundled model)", extension="pt", optional=True))
    alg.addParameter(QgsProcessingParameterString(
        "BANDS", "Band mapping: band numbers of red, green, blue (empty = 1,2,3)",
        optional=True))
    alg.addParameter(QgsProcessingParameterEnum(
        "DEVICE", "Device", options=DEVICES, defaultValue=0))
    advanced = [
        QgsProcessingParameterNumber("TILE_SIZE", "Tile size (px, 0 = model's)",
                                     QgsProcessingParameterNumber.Integer, 0, False,
                                     0, 4096),
        QgsProcessingParameterNumber("OVERLAP", "Tile overlap (px)",
                                     QgsProcessingParameterNumber.Integer, 64, False,
                                     0, 2048),
        QgsProcessingParameterNumber("BATCH_SIZE", "Batch size (tiles)",
                                     QgsProcessingParameterNumber.Integer, 4, False,
                                     1, 256),
        QgsProcessingParameterNumber("THRESHOLD", "Probability threshold",
                                     QgsProcessingParameterNumber.Double, 0.5, False,
                                     0.01, 0.99),
    ]
    add_advanced(alg, advanced)


def model_and_options(alg, parameters, context, feedback):
    """(model, card, PredictOptions) from the shared parameters; clear errors."""
    from ..core.imagery import ImageryError, parse_band_list
    from ..core.model_file import ModelFileError, load_model
    from ..core.predict import PredictOptions
    device = DEVICES[alg.parameterAsEnum(parameters, "DEVICE", context)]
    model_path = alg.parameterAsFile(parameters, "MODEL", context) or None
    try:
        bands = parse_band_list(alg.parameterAsString(parameters, "BANDS", context))
        model, card = load_model(model_path, device)
    except (ImageryError, ModelFileError) as err:
        raise QgsProcessingException(str(err)) from None
    feedback.pushInfo(f"Model: {card.get('name', model_path)} ({card['variant']} "
                      f"UGSNet) on {device} → {next(model.parameters()).device}")
    options = PredictOptions(
        bands=bands,
        tile_size=alg.parameterAsInt(parameters, "TILE_SIZE", context) or None,
        overlap=alg.parameterAsInt(parameters, "OVERLAP", context),
        batch_size=alg.parameterAsInt(parameters, "BATCH_SIZE", context),
        threshold=alg.parameterAsDouble(parameters, "THRESHOLD", context))
    return model, card, options


class ExtractUrbanGreenSpace(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    MODEL = "MODEL"
    BOUNDARY = "BOUNDARY"
    BANDS = "BANDS"
    DEVICE = "DEVICE"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    THRESHOLD = "THRESHOLD"
    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITY = "OUTPUT_PROBABILITY"
    OUTPUT_POLYGONS = "OUTPUT_POLYGONS"

    def createInstance(self):  # noqa: N802
        return ExtractUrbanGreenSpace()

    def name(self):
        return "extracturbangreenspace"

    def displayName(self):  # noqa: N802
        return "Extract Urban Green Space"

    def shortHelpString(self):  # noqa: N802
        return (
            "Maps urban green space (trees, shrubs, lawns, parks) in an aerial or "
            "satellite image with the UGSNet deep-learning model.<br><br>"
            "<b>Input</b>: a raster of about 1 m pixels with red, green and blue bands "
            "(3-band RGB, or 4-band RGB + near-infrared or alpha; uint8, or 10 to "
            "16-bit data, which is stretched per band). Other band orders need "
            "<i>Band mapping</i>, e.g. <tt>3,2,1</tt>. The raster must have a CRS.<br>"
            "<b>Model</b>: a UGSNet model file (.pt with its .json card); empty = the "
            "bundled light model, or on a CUDA GPU the full UGSNet when its file "
            "(<tt>models/ugsnet_full.pt</tt>, a separate download) is installed. A "
            "file whose card records a SHA-256 is checked before use.<br>"
            "<b>Urban boundary</b>: optional polygons (any CRS); pixels outside are "
            "left as nodata.<br><br>"
            "<b>Outputs</b><br>"
            "<i>Green space</i>: uint8 GeoTIFF on the input's grid, 1 = green space, "
            "0 = other, 255 = nodata / outside the boundary.<br>"
            "<i>Probability</i> (optional): the model's probability of green space in "
            "percent (0-100), 255 = nodata.<br>"
            "<i>Polygons</i> (optional): the green-space areas as polygons.<br><br>"
            "<b>Advanced</b>: the image is processed in overlapping tiles, blended so "
            "no seams show. Tile size 0 uses the model's own (results depend on it); "
            "batch size only changes speed and memory; a higher threshold maps less "
            "green. The GPU is used when PyTorch sees one (Device = auto).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Input image"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.BOUNDARY, "Urban boundary (optional)",
            [QgsProcessing.TypeVectorPolygon], optional=True))
        add_model_parameters(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Green space"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITY, "Green space probability", optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_POLYGONS, "Green space polygons",
            QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        for name, text in (("GREEN_FRACTION", "Green fraction of valid pixels"),
                           ("GREEN_AREA", "Green-space area (map units squared)"),
                           ("MEGAPIXELS_PER_SECOND", "Speed (megapixels per second)")):
            self.addOutput(QgsProcessingOutputNumber(name, text))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core.imagery import ImageryError
        from ..core.model_file import ModelFileError
        from ..core.predict import Cancelled, PredictError, predict_raster

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"'{layer.name()}' is a {layer.providerType()} layer; this algorithm reads "
                "files through GDAL. Save it as a GeoTIFF first (Export > Save As).")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        probability = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITY,
                                                  context) or None
        boundary = None
        source = self.parameterAsSource(parameters, self.BOUNDARY, context)
        if source is not None:
            boundary = boundary_from_source(source, layer, context)

        model, card, options = model_and_options(self, parameters, context, feedback)

        def progress(done, total):
            feedback.setProgress(100.0 * done / total)

        try:
            summary = predict_raster(
                layer.source(), output, model, card, probability, options, boundary,
                progress=progress, is_canceled=feedback.isCanceled,
                log=feedback.pushInfo, warn=feedback.pushWarning)
        except Cancelled:
            raise QgsProcessingException("Cancelled: no output was written") from None
        except (PredictError, ImageryError, ModelFileError) as err:
            raise QgsProcessingException(str(err)) from None

        px_area = abs(layer.rasterUnitsPerPixelX() * layer.rasterUnitsPerPixelY())
        feedback.pushInfo(
            f"Green space: {100 * summary['green_fraction']:.1f} % of "
            f"{summary['valid_pixels']:,} valid pixels; {summary['tiles']} tiles in "
            f"{summary['seconds']:.1f} s ({summary['megapixels_per_second']:.2f} MP/s)")
        results = {
            self.OUTPUT: output,
            "GREEN_FRACTION": summary["green_fraction"],
            "GREEN_AREA": summary["green_pixels"] * px_area,
            "MEGAPIXELS_PER_SECOND": summary["megapixels_per_second"],
        }
        attach_style(context, output, "green_space.qml")
        if probability:
            results[self.OUTPUT_PROBABILITY] = probability
            attach_style(context, probability, "green_probability.qml")
        polygons_dest = self.parameterAsOutputLayer(parameters, self.OUTPUT_POLYGONS,
                                                    context)
        if polygons_dest:
            results[self.OUTPUT_POLYGONS] = self._polygonize(output, polygons_dest,
                                                             context, feedback)
            attach_style(context, results[self.OUTPUT_POLYGONS],
                         "green_polygons.qml")
        return results

    def _polygonize(self, class_raster, destination, context, feedback):
        import processing
        feedback.pushInfo("Polygonizing green space…")
        raw = processing.run("gdal:polygonize", {
            "INPUT": class_raster, "BAND": 1, "FIELD": "class",
            "EIGHT_CONNECTEDNESS": False, "OUTPUT": "TEMPORARY_OUTPUT"},
            context=context, feedback=feedback, is_child_algorithm=True)["OUTPUT"]
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled")
        return processing.run("native:extractbyattribute", {
            "INPUT": raw, "FIELD": "class", "OPERATOR": 0, "VALUE": "1",
            "OUTPUT": destination},
            context=context, feedback=feedback, is_child_algorithm=True)["OUTPUT"]
