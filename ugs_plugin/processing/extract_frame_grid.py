"""ugs:extractframegrid: the extraction over a grid of image frames, resumable."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
)

from .. import qgis_compat
from ..core.workflows import frames
from .common import UgsAlgorithm, attach_style
from .options import add_options


class ExtractFrameGrid(UgsAlgorithm):
    NAME = "extractframegrid"
    DISPLAY_NAME = "Extract Urban Green Space over frame grid"
    TAGS = ("UGSNet", "frame", "grid", "batch", "city", "mosaic", "resume")
    HELP_ANCHOR = "mapping-a-whole-city-boundary-frame-grid-statistics"
    use_case = frames
    HELP = (
        "Runs <i>Extract Urban Green Space</i> for every frame of a grid layer (one "
        "polygon per image frame, a field naming its image file), as the UGS-1m "
        "product mapped cities frame by frame.<br><br>"
        "Image paths may be absolute or relative to <b>Images folder</b>. Frames "
        "outside the optional <b>urban boundary</b> are skipped and each map is "
        "masked by it. A frame whose map is already complete in the output folder "
        "is skipped, so re-running resumes after a crash or a cancel; a frame "
        "that fails (missing or unreadable image) is reported and the run goes "
        "on.<br><br>Writes <tt>&lt;frame id&gt;.tif</tt> per frame, "
        "<tt>mosaic.vrt</tt> over all finished frames and <tt>summary.csv</tt> "
        "(frame id, status, green fraction, seconds), and loads the mosaic and "
        "the summary.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "GRID", self.tr("Frame grid"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BOUNDARY", self.tr("Urban boundary"), [qgis_compat.SOURCE_VECTOR_POLYGON],
            optional=True))
        add_options(self, frames.OPTIONS)
        self.addParameter(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile("MOSAIC", self.tr("Mosaic (VRT)")))
        self.addOutput(QgsProcessingOutputFile("SUMMARY", self.tr("Summary table (CSV)")))
        for name, text in (("FRAMES_DONE", "Frames mapped in this run"),
                           ("FRAMES_SKIPPED", "Frames already finished"),
                           ("FRAMES_OUTSIDE", "Frames outside the boundary"),
                           ("FRAMES_FAILED", "Frames that failed"),
                           ("SECONDS_PER_FRAME", "Mean seconds per mapped frame")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(text)))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, grid=self.vector_layer(parameters, "GRID", context),
            output_folder=self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
            boundary=self.vector_layer(parameters, "BOUNDARY", context, optional=True))

    def outputs(self, result, parameters, context, feedback):
        counts = result.counts
        results = {"SUMMARY": result.summary, "OUTPUT_FOLDER": result.output_folder,
                   "FRAMES_DONE": counts["done"],
                   "FRAMES_SKIPPED": counts["skipped (finished)"],
                   "FRAMES_OUTSIDE": counts["outside boundary"],
                   "FRAMES_FAILED": counts["failed"],
                   "SECONDS_PER_FRAME": result.seconds_per_frame}
        if result.mosaic:
            results["MOSAIC"] = result.mosaic
            self._load(context, result.mosaic, "Green space mosaic", raster=True)
        self._load(context, result.summary, "Frame summary", raster=False)
        return results

    @staticmethod
    def _load(context, path, name, raster):
        details = QgsProcessingContext.LayerDetails(name, context.project(), name)
        details.layerTypeHint = (qgis_compat.LAYER_HINT_RASTER if raster
                                 else qgis_compat.LAYER_HINT_VECTOR)
        context.addLayerToLoadOnCompletion(path, details)
        if raster:
            attach_style(context, path, "green_space.qml", name)
