"""Glue shared by the algorithms: engine import, feedback bridges, styles."""
from __future__ import annotations

from qgis.core import (QgsApplication, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsSettings)

from .. import PLUGIN_DIR
from ..dependencies import SETTING_KEY, ensure_torch

STYLES = PLUGIN_DIR / "resources" / "styles"


def require_engine():
    """Import the engine (needs PyTorch) or fail with instructions."""
    ok, message = ensure_torch(PLUGIN_DIR, QgsSettings().value(SETTING_KEY, "", type=str),
                               QgsApplication.qgisSettingsDirPath())
    if not ok:
        raise QgsProcessingException(message)
    from .. import core  # noqa: F401  (import check)
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
# algorithm instance, so they live here, one per output path (bounded).
_STYLE_LOADERS = {}


def attach_style(context, output_value, qml_name, layer_name=None):
    """Style ``output_value`` with ``qml_name`` if it is set to load on completion."""
    if output_value and context.willLoadLayerOnCompletion(output_value):
        loader = StyleLoader(qml_name, layer_name)
        _STYLE_LOADERS[output_value] = loader
        context.layerToLoadOnCompletionDetails(output_value).setPostProcessor(loader)
