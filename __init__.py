"""QGIS plugin entry point. The repository root is the plugin folder."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .ugs_plugin.plugin import UgsPlugin
    return UgsPlugin(iface)
