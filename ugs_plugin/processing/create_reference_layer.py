"""ugs:createreferencelayer: an empty polygon layer ready for digitizing references."""
from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFields,
    QgsProcessingException,
    QgsProcessingParameterCrs,
    QgsProcessingParameterFeatureSink,
    QgsVectorLayer,
)

from .. import qgis_compat
from ..core.vectors import CHECK_FIELD
from .common import (
    ACCURACY,
    UgsAlgorithm,
    apply_reference_style,
    attach_reference_style,
)


class CreateReferenceLayer(UgsAlgorithm):
    """Needs no engine: a QGIS-only task, so it runs its own processAlgorithm."""
    CRS = "CRS"
    OUTPUT = "OUTPUT"
    NAME = "createreferencelayer"
    DISPLAY_NAME = "Create reference layer for digitizing"
    GROUP = ACCURACY
    TAGS = ("reference", "digitize", "validation", "polygons")
    HELP_ANCHOR = "checking-the-map-accuracy-assessment"
    HELP = ("Creates an empty polygon layer (GeoPackage) with a <tt>class</tt> field "
            "whose form offers <i>Green space</i> (1) and <i>Other</i> (0), styled by "
            "class. Digitize reference areas on your imagery, then run <i>Assess "
            "accuracy</i> or <i>Fine-tune model on reference polygons</i> with it. "
            "Ticked <tt>check</tt> marks (check squares of <i>Suggest places to "
            "mark</i> take it) only check a fine-tuning, they are never trained on. The "
            "form and style are stored in the GeoPackage, so they come back whenever "
            "the layer is opened.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterCrs(self.CRS, self.tr("CRS"),
                                                    "ProjectCrs"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Reference layer")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        crs = self.parameterAsCrs(parameters, self.CRS, context)
        if not crs.isValid():
            crs = QgsCoordinateReferenceSystem("EPSG:4326")
            feedback.pushWarning("no valid CRS given: using EPSG:4326")
        fields = QgsFields()
        fields.append(qgis_compat.field("class", "int"))
        fields.append(qgis_compat.field(CHECK_FIELD, "int"))
        fields.append(qgis_compat.field("note", "string"))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          qgis_compat.WKB_MULTIPOLYGON, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        del sink  # close the file so its style can be stored in it
        layer = QgsVectorLayer(dest, "reference", "ogr")
        if layer.isValid() and layer.dataProvider().storageType() == "GPKG":
            apply_reference_style(layer)
            message = qgis_compat.save_default_style(layer, "UGS reference classes")
            if message:
                feedback.pushWarning(f"could not store the style in the file: {message}")
        attach_reference_style(context, dest)
        return {self.OUTPUT: dest}
