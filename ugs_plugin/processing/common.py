"""Glue shared by the algorithms: engine import, feedback bridges, styles."""
from __future__ import annotations

import importlib

from qgis.core import (QgsApplication, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingParameterDefinition, QgsSettings)

from .. import PLUGIN_DIR
from ..dependencies import SETTING_KEY, ensure_torch

STYLES = PLUGIN_DIR / "resources" / "styles"


def require_engine():
    """Import the engine (needs PyTorch) or fail with instructions."""
    ok, message = ensure_torch(PLUGIN_DIR, QgsSettings().value(SETTING_KEY, "", type=str),
                               QgsApplication.qgisSettingsDirPath())
    if not ok:
        raise QgsProcessingException(message)
    # Fail here, with the message above, rather than deep inside an algorithm.
    importlib.import_module(__package__.rsplit(".", 1)[0] + ".core.predict")
    return True


class StyleLoader(QgsProcessingLayerPostProcessorInterface):
    """Applies a QML style to an output when QGIS loads it on completion."""

    def __init__(self, qml_name: str, layer_name: str | None = None):
        super().__init__()
        self.qml = str(STYLES / qml_name)
        self.layer_name = layer_name

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        message, ok = layer.loadNamedStyle(self.qml)
        if not ok:
            feedback.reportError(f"could not apply style {self.qml}: {message}")
        if self.layer_name:
            layer.setName(self.layer_name)
        layer.triggerRepaint()


# QGIS holds post-processors by raw pointer: the Python objects must outlive the
# algorithm instance, so they live here, one per output path (a reused path
# replaces its entry).
_POST_PROCESSORS = {}


def add_advanced(alg, params):
    """Add ``params`` to ``alg`` under the dialog's Advanced section."""
    for param in params:
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        alg.addParameter(param)


def attach_post_processor(context, output_value, processor):
    """Run ``processor`` on ``output_value`` when QGIS loads it on completion."""
    if output_value and context.willLoadLayerOnCompletion(output_value):
        _POST_PROCESSORS[output_value] = processor
        context.layerToLoadOnCompletionDetails(output_value).setPostProcessor(processor)


def attach_style(context, output_value, qml_name, layer_name=None):
    """Style ``output_value`` with ``qml_name`` if it is set to load on completion."""
    attach_post_processor(context, output_value, StyleLoader(qml_name, layer_name))


def shapes_in_crs(source, crs, context, fields=()):
    """(shapely geometry, {field: value}) of every feature, reprojected to ``crs``."""
    from qgis.core import QgsFeatureRequest
    from shapely import wkb
    request = QgsFeatureRequest().setDestinationCrs(crs, context.transformContext())
    out = []
    for feature in source.getFeatures(request):
        if not feature.hasGeometry():
            continue
        geom = wkb.loads(bytes(feature.geometry().asWkb()))
        out.append((geom, {f: feature[f] for f in fields}))
    return out


def boundary_from_source(source, layer, context, what="Urban boundary"):
    """A core BoundaryMask in the raster layer's CRS, checked to overlap it."""
    from ..core.boundary import BoundaryError, BoundaryMask
    try:
        mask = BoundaryMask([g for g, _ in shapes_in_crs(source, layer.crs(), context)])
    except BoundaryError as err:
        raise QgsProcessingException(f"{what}: {err}") from None
    ext = layer.extent()
    if not mask.intersects(ext.xMinimum(), ext.yMinimum(), ext.xMaximum(),
                           ext.yMaximum()):
        raise QgsProcessingException(f"{what} does not overlap the raster; check that "
                                     "both cover the same place")
    return mask


OTHER_WORDS = ("0", "other", "non-green", "not green")


def reference_classes(source, field, green_values, crs, context, feedback,
                      extra_fields=()):
    """(geometry, 0/1, {extra field: value}) of the reference layer; unexpected class
    values are an error, empty values a warning."""
    shapes = shapes_in_crs(source, crs, context, (field, *extra_fields))
    if not shapes:
        raise QgsProcessingException("the reference layer has no features with a "
                                     "geometry; digitize some reference data first")
    out, unexpected, empty = [], set(), 0
    green = {str(v).strip().lower() for v in green_values}
    for geom, attrs in shapes:
        value = attrs[field]
        if value is None or str(value).strip() in ("", "NULL"):
            empty += 1
            continue
        text = str(value).strip().lower()
        if text.endswith(".0"):
            text = text[:-2]
        if text in green:
            out.append((geom, 1, attrs))
        elif text in OTHER_WORDS:
            out.append((geom, 0, attrs))
        else:
            unexpected.add(str(value))
    if unexpected:
        raise QgsProcessingException(
            f"field '{field}' holds {sorted(unexpected)[:5]}, which is neither a green "
            f"value ({', '.join(sorted(green))}) nor 0/other: list all green values")
    if empty:
        feedback.pushWarning(f"{empty} reference feature(s) have no class in '{field}' "
                             "and were left out")
    if not out:
        raise QgsProcessingException(f"no reference feature has a class in '{field}'")
    return out


def apply_reference_style(layer):
    """Value-map editor on ``class`` (Green space = 1, Other = 0) and a categorized
    renderer, so digitizing starts at once."""
    from qgis.core import (QgsCategorizedSymbolRenderer, QgsEditorWidgetSetup,
                           QgsRendererCategory, QgsSymbol)
    from qgis.PyQt.QtGui import QColor
    index = layer.fields().indexOf("class")
    if index < 0:
        return
    layer.setEditorWidgetSetup(index, QgsEditorWidgetSetup(
        "ValueMap", {"map": [{"Green space": "1"}, {"Other": "0"}]}))
    categories = []
    for value, label, colour in ((1, "Green space", "#38a800"), (0, "Other", "#b0b0b0"),
                                 (None, "not labelled", "#ff00ff")):
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(colour))
        symbol.setOpacity(0.6 if layer.geometryType() == 2 else 1.0)
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class", categories))


class ReferenceStyler(QgsProcessingLayerPostProcessorInterface):
    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        apply_reference_style(layer)
        layer.triggerRepaint()


def attach_reference_style(context, output_value):
    attach_post_processor(context, output_value, ReferenceStyler())
