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


def attach_style(context, output_value, qml_name, layer_name=None, keep=None):
    """Style ``output_value`` if it is set to load on completion.

    The post-processor must outlive processAlgorithm, so it is stored in ``keep``.
    """
    if output_value and context.willLoadLayerOnCompletion(output_value):
        loader = StyleLoader(qml_name, layer_name)
        if keep is not None:
            keep.append(loader)
        context.layerToLoadOnCompletionDetails(output_value).setPostProcessor(loader)
