"""Map tool "Draw adaptation region": drag a rectangle, or click the corners of a
polygon (right-click or double-click closes it); Esc cancels. The region goes to a
temporary polygon layer, which the caller hands to ugs:adapttoregion."""
from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

from .. import qgis_compat

LAYER_NAME = "Adaptation region"
DRAG_PIXELS = 5  # a press-move-release farther than this is a rectangle


def region_layer(crs) -> QgsVectorLayer:
    """A temporary (memory) polygon layer for the region, in the canvas CRS."""
    layer = QgsVectorLayer(f"Polygon?crs={crs.authid() or 'wkt:' + crs.toWkt()}"
                           "&field=id:integer", LAYER_NAME, "memory")
    symbol = layer.renderer().symbol()
    symbol.setColor(QColor(255, 140, 0, 60))
    symbol.symbolLayer(0).setStrokeColor(QColor(255, 140, 0))
    symbol.symbolLayer(0).setStrokeWidth(0.6)
    return layer


class RegionMapTool(QgsMapTool):
    """Emits ``regionDrawn(QgsGeometry)`` in canvas CRS, or ``canceled()`` on Esc."""

    regionDrawn = pyqtSignal(QgsGeometry)
    canceled = pyqtSignal()

    def __init__(self, canvas):
        super().__init__(canvas)
        self.band = QgsRubberBand(canvas, qgis_compat.GEOMETRY_POLYGON)
        self.band.setColor(QColor(255, 140, 0, 80))
        self.band.setStrokeColor(QColor(255, 140, 0))
        self.band.setWidth(2)
        self.swallow_release = False
        # point (canvas CRS) -> a geometry to take whole on a single click, or None
        self.snap_to = None
        self.reset()

    def reset(self):
        self.press = None        # (screen point, map point) of a possible drag
        self.dragging = False
        self.vertices = []       # polygon corners, map units
        self.band.reset(qgis_compat.GEOMETRY_POLYGON)

    # Rectangle by dragging, polygon by clicking.
    def canvasPressEvent(self, event):  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and not self.vertices:
            self.press = (event.pos(), event.mapPoint())

    def canvasMoveEvent(self, event):  # noqa: N802
        if self.press is not None:
            moved = (event.pos() - self.press[0]).manhattanLength()
            if moved > DRAG_PIXELS:
                self.dragging = True
            if self.dragging:
                rect = QgsRectangle(self.press[1], event.mapPoint())
                self.band.setToGeometry(QgsGeometry.fromRect(rect), None)
        elif self.vertices:
            self._show_polygon(self.vertices + [event.mapPoint()])

    def canvasReleaseEvent(self, event):  # noqa: N802
        if self.swallow_release:  # the release that ends a double-click
            self.swallow_release = False
            return
        if event.button() == Qt.MouseButton.RightButton:
            self._finish_polygon()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self.dragging:
            rect = QgsRectangle(self.press[1], event.mapPoint())
            self.reset()
            if rect.width() > 0 and rect.height() > 0:
                self.regionDrawn.emit(QgsGeometry.fromRect(rect))
            return
        self.press = None
        if not self.vertices and self.snap_to is not None:
            whole = self.snap_to(QgsPointXY(event.mapPoint()))
            if whole is not None:  # one click inside a suggested square
                self.regionDrawn.emit(whole)
                return
        self.vertices.append(QgsPointXY(event.mapPoint()))
        self._show_polygon(self.vertices)

    def canvasDoubleClickEvent(self, event):  # noqa: N802
        self.swallow_release = True
        self._finish_polygon()

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.reset()
            self.canceled.emit()
        elif event.key() == Qt.Key.Key_Backspace and self.vertices:
            self.vertices.pop()
            self._show_polygon(self.vertices)

    def deactivate(self):
        self.reset()
        super().deactivate()

    def _show_polygon(self, points):
        self.band.reset(qgis_compat.GEOMETRY_POLYGON)
        for point in points:
            self.band.addPoint(QgsPointXY(point), False)
        self.band.show()
        self.band.updatePosition()
        self.band.update()

    def _finish_polygon(self):
        # A double-click also delivers its release: drop the duplicate corner.
        points = [p for i, p in enumerate(self.vertices)
                  if i == 0 or p != self.vertices[i - 1]]
        self.reset()
        if len(points) < 3:
            return
        geometry = QgsGeometry.fromPolygonXY([points + [points[0]]])
        if geometry.area() > 0:
            self.regionDrawn.emit(geometry.makeValid())


def add_region(geometry, crs, project=None) -> QgsVectorLayer:
    """Put ``geometry`` in the project's "Adaptation region" layer (created if
    missing or in another CRS), replacing an earlier region; returns the layer."""
    project = project or QgsProject.instance()
    layers = [l for l in project.mapLayersByName(LAYER_NAME)
              if l.providerType() == "memory" and l.crs() == crs]
    if layers:
        layer = layers[0]
        layer.dataProvider().truncate()
    else:
        layer = region_layer(crs)
        project.addMapLayer(layer)
    feature = QgsFeature(layer.fields())
    feature.setAttribute("id", 1)
    feature.setGeometry(geometry)
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    layer.triggerRepaint()
    return layer
