"""ugs:extracturbangreenspace: UGSNet inference over a raster."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from .. import qgis_compat
from ..core.workflows import extract
from .common import UgsAlgorithm, attach_style
from .options import add_options


class ExtractUrbanGreenSpace(UgsAlgorithm):
    NAME = "extracturbangreenspace"
    DISPLAY_NAME = "Extract Urban Green Space"
    TAGS = ("UGSNet", "green space", "vegetation", "trees", "segmentation",
            "deep learning", "classification")
    HELP_ANCHOR = "extract-urban-green-space-ugsextracturbangreenspace"
    use_case = extract
    HELP = (
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
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT",
                                                            self.tr("Input image")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BOUNDARY", self.tr("Urban boundary"), [qgis_compat.SOURCE_VECTOR_POLYGON],
            optional=True))
        add_options(self, extract.OPTIONS)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Green space")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITY", self.tr("Green space probability"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_UNCERTAINTY", self.tr("Uncertainty (where to mark next)"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT_POLYGONS", self.tr("Green space polygons"),
            qgis_compat.SOURCE_VECTOR_POLYGON, optional=True, createByDefault=False))
        for name, text in (("GREEN_FRACTION", "Green fraction of valid pixels"),
                           ("GREEN_AREA", "Green-space area (map units squared)"),
                           ("MEGAPIXELS_PER_SECOND", "Speed (megapixels per second)")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(text)))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context,
            image=self.raster_path(parameters, "INPUT", context),
            output=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            probability=self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITY",
                                                    context) or None,
            uncertainty=self.parameterAsOutputLayer(parameters, "OUTPUT_UNCERTAINTY",
                                                    context) or None,
            boundary=self.vector_layer(parameters, "BOUNDARY", context, optional=True))

    def outputs(self, result, parameters, context, feedback):
        results = {"OUTPUT": result.output, "GREEN_FRACTION": result.green_fraction,
                   "GREEN_AREA": result.green_area,
                   "MEGAPIXELS_PER_SECOND": result.megapixels_per_second}
        attach_style(context, result.output, "green_space.qml")
        if result.probability:
            results["OUTPUT_PROBABILITY"] = result.probability
            attach_style(context, result.probability, "green_probability.qml")
        if result.uncertainty:
            results["OUTPUT_UNCERTAINTY"] = result.uncertainty
            attach_style(context, result.uncertainty, "uncertainty.qml")
        polygons = self.parameterAsOutputLayer(parameters, "OUTPUT_POLYGONS", context)
        if polygons:
            results["OUTPUT_POLYGONS"] = self._polygonize(result.output, polygons,
                                                          context, feedback)
            attach_style(context, results["OUTPUT_POLYGONS"], "green_polygons.qml")
        return results

    @staticmethod
    def _polygonize(class_raster, destination, context, feedback):
        import processing

        from ..core.errors import Cancelled
        feedback.pushInfo("Polygonizing green space…")
        raw = processing.run("gdal:polygonize", {
            "INPUT": class_raster, "BAND": 1, "FIELD": "class",
            "EIGHT_CONNECTEDNESS": False, "OUTPUT": "TEMPORARY_OUTPUT"},
            context=context, feedback=feedback, is_child_algorithm=True)["OUTPUT"]
        if feedback.isCanceled():
            raise Cancelled("cancelled while polygonizing; the class raster is complete")
        return processing.run("native:extractbyattribute", {
            "INPUT": raw, "FIELD": "class", "OPERATOR": 0, "VALUE": "1",
            "OUTPUT": destination},
            context=context, feedback=feedback, is_child_algorithm=True)["OUTPUT"]
