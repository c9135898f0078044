"""QGIS and Qt names that differ between QGIS 3.22, 3.44 and QGIS 4 (Qt6).

From 3.30/3.36 QGIS moved its enums into ``Qgis`` (``Qgis.ProcessingSourceType``,
``Qgis.GeometryType``…) and QGIS 4 may drop the old class-scoped ones; 3.22 has only
those. Each enum here is looked up by its new name first and its 3.22 name second,
both fully scoped, so Qt6's Python enums accept them. ``RESOLVED`` records which
spelling each took: the tests assert that QGIS 3.44 takes the new one for all.
"""
from __future__ import annotations

from qgis import core as _core

RESOLVED = {}   # new spelling -> "new" or "old": which one this QGIS has


def _lookup(path):
    value = _core
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _enum(new, old):
    """The enum value by its new spelling (under qgis.core), else by its 3.22 one."""
    try:
        value = _lookup(new)
        RESOLVED[new] = "new"
    except AttributeError:
        value = _lookup(old)
        RESOLVED[new] = "old"
    return value


SOURCE_VECTOR = _enum("Qgis.ProcessingSourceType.Vector",
                      "QgsProcessing.SourceType.TypeVector")
SOURCE_VECTOR_ANY = _enum("Qgis.ProcessingSourceType.VectorAnyGeometry",
                          "QgsProcessing.SourceType.TypeVectorAnyGeometry")
SOURCE_VECTOR_POINT = _enum("Qgis.ProcessingSourceType.VectorPoint",
                            "QgsProcessing.SourceType.TypeVectorPoint")
SOURCE_VECTOR_LINE = _enum("Qgis.ProcessingSourceType.VectorLine",
                           "QgsProcessing.SourceType.TypeVectorLine")
SOURCE_VECTOR_POLYGON = _enum("Qgis.ProcessingSourceType.VectorPolygon",
                              "QgsProcessing.SourceType.TypeVectorPolygon")
NUMBER_DOUBLE = _enum("Qgis.ProcessingNumberParameterType.Double",
                      "QgsProcessingParameterNumber.Type.Double")
NUMBER_INTEGER = _enum("Qgis.ProcessingNumberParameterType.Integer",
                       "QgsProcessingParameterNumber.Type.Integer")
FILE_FOLDER = _enum("Qgis.ProcessingFileParameterBehavior.Folder",
                    "QgsProcessingParameterFile.Behavior.Folder")
FIELD_ANY = _enum("Qgis.ProcessingFieldParameterDataType.Any",
                  "QgsProcessingParameterField.DataType.Any")
FIELD_NUMERIC = _enum("Qgis.ProcessingFieldParameterDataType.Numeric",
                      "QgsProcessingParameterField.DataType.Numeric")
FIELD_STRING = _enum("Qgis.ProcessingFieldParameterDataType.String",
                     "QgsProcessingParameterField.DataType.String")
FLAG_ADVANCED = _enum("Qgis.ProcessingParameterFlag.Advanced",
                      "QgsProcessingParameterDefinition.Flag.FlagAdvanced")
LAYER_HINT_RASTER = _enum("QgsProcessingUtils.LayerHint.Raster",
                          "QgsProcessingUtils.LayerHint.Raster")
LAYER_HINT_VECTOR = _enum("QgsProcessingUtils.LayerHint.Vector",
                          "QgsProcessingUtils.LayerHint.Vector")
GEOMETRY_POINT = _enum("Qgis.GeometryType.Point", "QgsWkbTypes.GeometryType.PointGeometry")
GEOMETRY_POLYGON = _enum("Qgis.GeometryType.Polygon",
                         "QgsWkbTypes.GeometryType.PolygonGeometry")
WKB_POINT = _enum("Qgis.WkbType.Point", "QgsWkbTypes.Type.Point")
WKB_POLYGON = _enum("Qgis.WkbType.Polygon", "QgsWkbTypes.Type.Polygon")
WKB_MULTIPOLYGON = _enum("Qgis.WkbType.MultiPolygon", "QgsWkbTypes.Type.MultiPolygon")
WKB_NO_GEOMETRY = _enum("Qgis.WkbType.NoGeometry", "QgsWkbTypes.Type.NoGeometry")
LAYER_RASTER = _enum("Qgis.LayerType.Raster", "QgsMapLayerType.RasterLayer")
LAYER_VECTOR = _enum("Qgis.LayerType.Vector", "QgsMapLayerType.VectorLayer")
FAST_INSERT = _enum("QgsFeatureSink.Flag.FastInsert", "QgsFeatureSink.Flag.FastInsert")
MESSAGE_WARNING = _enum("Qgis.MessageLevel.Warning", "Qgis.MessageLevel.Warning")


def qaction_class():
    """QAction: in QtGui with Qt6, in QtWidgets with Qt5."""
    try:
        from qgis.PyQt.QtGui import QAction
    except ImportError:
        from qgis.PyQt.QtWidgets import QAction
    return QAction


# Field types: QgsField takes a QMetaType.Type from 3.38 on; before, a QVariant.Type
# (which Qt6 no longer has: those lines only run on Qt5 builds).
def field_type(kind: str):
    """The QgsField type for ``kind`` (string, int, int64, double)."""
    if _core.Qgis.versionInt() >= 33800:
        from qgis.PyQt.QtCore import QMetaType
        return {"string": QMetaType.Type.QString, "int": QMetaType.Type.Int,
                "int64": QMetaType.Type.LongLong, "double": QMetaType.Type.Double}[kind]
    from qgis.PyQt.QtCore import QVariant
    return {"string": QVariant.Type.String, "int": QVariant.Type.Int,  # qt5-only
            "int64": QVariant.Type.LongLong,  # qt5-only
            "double": QVariant.Type.Double}[kind]  # qt5-only


def field(name: str, kind: str):
    """A QgsField named ``name`` of type ``kind`` (string, int, int64, double)."""
    return _core.QgsField(name, field_type(kind))


def save_default_style(layer, description: str) -> str:
    """Store the layer's style in its GeoPackage as the default one; the error
    message, or "" on success (saveStyleToDatabaseV2 from 3.40, the old call before)."""
    if hasattr(layer, "saveStyleToDatabaseV2"):
        saved, message = layer.saveStyleToDatabaseV2("default", description, True, "")
        return "" if saved else (message or "the style was not saved")
    return layer.saveStyleToDatabase("default", description, True, "")
