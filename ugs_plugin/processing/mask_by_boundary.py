"""ugs:maskbyurbanboundary: pixels outside the urban boundary become nodata."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterBoolean, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from .common import require_engine, shapes_in_crs


class MaskByUrbanBoundary(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BOUNDARY = "BOUNDARY"
    BUFFER = "BUFFER"
    ALL_TOUCHED = "ALL_TOUCHED"
    OUTPUT = "OUTPUT"

    def createInstance(self):  # noqa: N802
        return MaskByUrbanBoundary()

    def name(self):
        return "maskbyurbanboundary"

    def displayName(self):  # noqa: N802
        return "Mask raster by urban boundary"

    def shortHelpString(self):  # noqa: N802
        return ("Sets the pixels of a raster that lie outside urban-boundary polygons "
                "(e.g. Global Urban Boundaries 2018) to nodata, as the UGS-1m product "
                "did before mapping. The polygons may be in any CRS (reprojected); "
                "with 'Selected features only' only those are used. An optional "
                "buffer (metres) widens the boundary; <i>all touched</i> keeps every "
                "pixel the boundary touches instead of those whose centre is inside.<br>"
                "The output keeps the grid, data type, bands and nodata value; a "
                "raster without a nodata value gets an internal mask instead, so no "
                "real value is lost.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.BOUNDARY, "Urban boundary", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(
            self.BUFFER, "Buffer (metres)", QgsProcessingParameterNumber.Double, 0.0,
            False, -100000.0, 100000.0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.ALL_TOUCHED, "Keep all pixels the boundary touches", False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Masked raster"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core.boundary import (BoundaryError, BoundaryMask, buffer_geometries,
                                     mask_raster)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer.providerType() != "gdal":
            raise QgsProcessingException("the raster must be a file GDAL can read")
        source = self.parameterAsSource(parameters, self.BOUNDARY, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters,
                                                                 self.BOUNDARY))
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        import rasterio
        with rasterio.open(layer.source()) as src:
            crs = src.crs
        geoms = [g for g, _ in shapes_in_crs(source, layer.crs(), context)]
        try:
            geoms = buffer_geometries(geoms, self.parameterAsDouble(
                parameters, self.BUFFER, context), crs)
            mask = BoundaryMask(geoms, self.parameterAsBool(parameters, self.ALL_TOUCHED,
                                                            context))
            summary = mask_raster(
                layer.source(), output, mask,
                progress=lambda d, t: feedback.setProgress(100.0 * d / t),
                is_canceled=feedback.isCanceled)
        except BoundaryError as err:
            raise QgsProcessingException(f"Urban boundary: {err}") from None
        feedback.pushInfo(f"{summary['inside_pixels']:,} of {summary['pixels']:,} "
                          "pixels inside the boundary"
                          + ("; outside marked in an internal mask (the raster has no "
                             "nodata value)" if summary["internal_mask"] else ""))
        return {self.OUTPUT: output}
