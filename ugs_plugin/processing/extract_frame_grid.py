"""ugs:extractframegrid: the extraction over a grid of image frames, resumable."""
from __future__ import annotations

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingContext,
                       QgsProcessingException, QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination,
                       QgsProcessingUtils)

from .common import require_engine, shapes_in_crs
from .extract_green_space import add_model_parameters, model_and_options


class ExtractFrameGrid(QgsProcessingAlgorithm):
    GRID = "GRID"
    IMAGE_FIELD = "IMAGE_FIELD"
    ID_FIELD = "ID_FIELD"
    IMAGES_FOLDER = "IMAGES_FOLDER"
    BOUNDARY = "BOUNDARY"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"

    def createInstance(self):  # noqa: N802
        return ExtractFrameGrid()

    def name(self):
        return "extractframegrid"

    def displayName(self):  # noqa: N802
        return "Extract Urban Green Space over frame grid"

    def shortHelpString(self):  # noqa: N802
        return (
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
            self.GRID, "Frame grid", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField(
            self.IMAGE_FIELD, "Field with the image path", None, self.GRID,
            QgsProcessingParameterField.String))
        self.addParameter(QgsProcessingParameterField(
            self.ID_FIELD, "Field with the frame id (empty = feature id)", None,
            self.GRID, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.IMAGES_FOLDER, "Images folder (for relative paths)",
            QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.BOUNDARY, "Urban boundary (optional)", [QgsProcessing.TypeVectorPolygon],
            optional=True))
        add_model_parameters(self)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputFile("MOSAIC", "Mosaic (VRT)"))
        self.addOutput(QgsProcessingOutputFile("SUMMARY", "Summary table (CSV)"))
        for name, text in (("FRAMES_DONE", "Frames mapped in this run"),
                           ("FRAMES_SKIPPED", "Frames already finished"),
                           ("FRAMES_OUTSIDE", "Frames outside the boundary"),
                           ("FRAMES_FAILED", "Frames that failed"),
                           ("SECONDS_PER_FRAME", "Mean seconds per mapped frame")):
            self.addOutput(QgsProcessingOutputNumber(name, text))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from pathlib import Path

        from rasterio.crs import CRS

        from ..core import frames

        grid = self.parameterAsSource(parameters, self.GRID, context)
        if grid is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.GRID))
        image_field = self.parameterAsString(parameters, self.IMAGE_FIELD, context)
        id_field = self.parameterAsString(parameters, self.ID_FIELD, context)
        folder = self.parameterAsFile(parameters, self.IMAGES_FOLDER, context) or None
        out_dir = Path(self.parameterAsString(parameters, self.OUTPUT_FOLDER, context))
        out_dir.mkdir(parents=True, exist_ok=True)
        fields = (image_field,) + ((id_field,) if id_field else ())
        rows = []
        for feature_geom, attrs in shapes_in_crs(grid, grid.sourceCrs(), context, fields):
            rows.append((attrs[id_field] if id_field else None, attrs[image_field],
                         feature_geom))
        if not id_field:  # feature order as ids, stable for resumes
            rows = [(i + 1, img, g) for i, (_, img, g) in enumerate(rows)]
        try:
            jobs = frames.plan_jobs(rows, folder, out_dir)
        except ValueError as err:
            raise QgsProcessingException(str(err)) from None
        if not jobs:
            raise QgsProcessingException("the frame grid has no features")

        boundary_geoms = None
        boundary = self.parameterAsSource(parameters, self.BOUNDARY, context)
        if boundary is not None:
            boundary_geoms = [g for g, _ in shapes_in_crs(boundary, grid.sourceCrs(),
                                                          context)]
            if not boundary_geoms:
                raise QgsProcessingException("the urban boundary has no polygons")
        model, card, options = model_and_options(self, parameters, context, feedback)
        extract, inside = frames.frame_runner(
            model, card, options, boundary_geoms,
            CRS.from_wkt(grid.sourceCrs().toWkt()) if boundary_geoms else None)
        try:
            frames.run_jobs(jobs, extract, inside,
                            progress=lambda d, t: feedback.setProgress(100.0 * d / t),
                            is_canceled=feedback.isCanceled, log=feedback.pushInfo)
        except InterruptedError:
            raise QgsProcessingException("Cancelled: finished frames are kept; run "
                                         "again to resume") from None
        for job in jobs:
            if job.status == "failed":
                feedback.reportError(f"frame {job.frame_id} failed: {job.message}")
        summary = out_dir / "summary.csv"
        frames.write_summary(jobs, summary)
        finished = [j.output for j in jobs if j.status in ("done", "skipped (finished)")]
        results = {"SUMMARY": str(summary)}
        if finished:
            mosaic = out_dir / "mosaic.vrt"
            used, other_crs = frames.write_mosaic(finished, mosaic)
            if other_crs:
                feedback.pushWarning(f"{other_crs} frame(s) in another CRS are not in "
                                     "the mosaic")
            results["MOSAIC"] = str(mosaic)
            self._load(context, str(mosaic), "Green space mosaic", "raster")
        self._load(context, str(summary), "Frame summary", "vector")
        done = [j for j in jobs if j.status == "done"]
        results.update({
            "OUTPUT_FOLDER": str(out_dir),
            "FRAMES_DONE": len(done),
            "FRAMES_SKIPPED": sum(j.status.startswith("skipped") for j in jobs),
            "FRAMES_OUTSIDE": sum(j.status == "outside boundary" for j in jobs),
            "FRAMES_FAILED": sum(j.status == "failed" for j in jobs),
            "SECONDS_PER_FRAME": (sum(j.seconds for j in done) / len(done)) if done
            else 0.0})
        return results

    @staticmethod
    def _load(context, path, name, kind):
        from .common import attach_style
        details = QgsProcessingContext.LayerDetails(name, context.project(), name)
        details.layerTypeHint = (QgsProcessingUtils.LayerHint.Raster if kind == "raster"
                                 else QgsProcessingUtils.LayerHint.Vector)
        context.addLayerToLoadOnCompletion(path, details)
        if kind == "raster":
            attach_style(context, path, "green_space.qml", name)
