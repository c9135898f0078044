"""Reference polygons marked on the canvas ("Mark green space" / "Mark not green
space"): each drawn shape goes straight into a reference layer with its class set, no
form to fill; the last marks can be undone."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsProject,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .. import qgis_compat
from ..core.vectors import CHECK_FIELD

REFERENCE_PROPERTY = "ugs/reference_layer"
FILE_NAME = "ugs_reference.gpkg"
LAYER_NAME = "UGS reference"


def is_reference_layer(layer) -> bool:
    """A polygon layer with a ``class`` field."""
    return (layer is not None and layer.type() == qgis_compat.LAYER_VECTOR
            and layer.geometryType() == qgis_compat.GEOMETRY_POLYGON
            and layer.fields().indexOf("class") >= 0)


def find_reference_layer(project, active=None):
    """The active layer if it is a reference layer, else the one marks went to
    before, else the first layer made by ugs:createreferencelayer's file name."""
    def usable(layer):  # suggested squares are not where marks go
        return is_reference_layer(layer) and not is_suggestion_layer(layer)
    if usable(active):
        return active
    layers = list(project.mapLayers().values())
    for layer in layers:
        if usable(layer) and layer.customProperty(REFERENCE_PROPERTY):
            return layer
    for layer in layers:
        if usable(layer) and Path(layer.source().split("|")[0]).name == FILE_NAME:
            return layer
    return None


def reference_file(project) -> Path:
    """``ugs_reference.gpkg`` in the project's folder (the home folder while the
    project is unsaved)."""
    folder = project.homePath() or str(Path.home())
    return Path(folder) / FILE_NAME


def open_or_create_reference_layer(project, crs):
    """Load the project folder's reference GeoPackage, creating it first (with
    ugs:createreferencelayer, so it has the class form and style) if needed."""
    from ..processing.common import apply_reference_style
    path = reference_file(project)
    if not path.exists():
        import processing
        processing.run("ugs:createreferencelayer", {"CRS": crs, "OUTPUT": str(path)})
    layer = QgsVectorLayer(str(path), LAYER_NAME, "ogr")
    if not layer.isValid():
        raise OSError(f"cannot open or create the reference layer {path}")
    apply_reference_style(layer)
    layer.setCustomProperty(REFERENCE_PROPERTY, True)
    project.addMapLayer(layer)
    return layer


def class_value(layer, green: bool):
    """1 / 0, as the class field's type wants it."""
    field: QgsField = layer.fields().field("class")
    value = 1 if green else 0
    return value if field.isNumeric() else str(value)


def add_mark(layer, geometry, geometry_crs, green: bool, project=None,
             check: bool = False) -> int:
    """Add ``geometry`` (in ``geometry_crs``) to ``layer`` with its class (and check
    1 for a check square's mark, the field added where the layer lacks it); returns
    the new feature id. Written to the file at once unless the layer is being edited,
    in which case it joins the edit session."""
    project = project or QgsProject.instance()
    geometry = type(geometry)(geometry)  # a copy: the caller's stays in its CRS
    if geometry_crs != layer.crs():
        geometry.transform(QgsCoordinateTransform(geometry_crs, layer.crs(), project))
    if QgsWkbTypes.isMultiType(layer.wkbType()):
        geometry.convertToMultiType()
    if check and layer.fields().indexOf(CHECK_FIELD) < 0:
        _add_check_field(layer)
    feature = QgsFeature(layer.fields())
    feature.setGeometry(geometry)
    feature.setAttribute("class", class_value(layer, green))
    if layer.fields().indexOf(CHECK_FIELD) >= 0:
        feature.setAttribute(CHECK_FIELD, 1 if check else 0)
    layer.setCustomProperty(REFERENCE_PROPERTY, True)
    if layer.isEditable():
        if not layer.addFeature(feature):
            raise OSError(f"could not add the mark to {layer.name()}")
        fid = feature.id()
    else:
        ok, added = layer.dataProvider().addFeatures([feature])
        if not ok:
            raise OSError(f"could not write the mark to {layer.source()}: "
                          f"{layer.dataProvider().lastError()}")
        fid = added[0].id()
        layer.updateExtents()
    layer.triggerRepaint()
    return fid


def _add_check_field(layer):
    field = qgis_compat.field(CHECK_FIELD, "int")
    ok = (layer.addAttribute(field) if layer.isEditable()
          else layer.dataProvider().addAttributes([field]))
    layer.updateFields()
    if not ok or layer.fields().indexOf(CHECK_FIELD) < 0:
        raise OSError(f"could not add the field '{CHECK_FIELD}' to {layer.name()} for "
                      "a check mark; add an integer field of that name by hand")


def is_check_square(feature) -> bool:
    """A suggested square placed at random to check the result (check 1)."""
    fields = feature.fields()
    return (fields.indexOf(CHECK_FIELD) >= 0
            and str(feature[CHECK_FIELD]).strip() in ("1", "1.0", "true"))


def remove_mark(layer, fid) -> bool:
    """Delete a mark added by ``add_mark``."""
    ok = (layer.deleteFeature(fid) if layer.isEditable()
          else layer.dataProvider().deleteFeatures([fid]))
    layer.triggerRepaint()
    return bool(ok)


SUGGESTION_FIELDS = ("rank", "uncertainty", "class")


def is_suggestion_layer(layer) -> bool:
    """A layer of ugs:suggestplacestomark (or the CLI's suggest, loaded by hand)."""
    return (is_reference_layer(layer)
            and all(layer.fields().indexOf(n) >= 0 for n in SUGGESTION_FIELDS))


def suggestion_at(project, point, crs):
    """(layer, feature) of the suggested square under ``point`` (in ``crs``) in a
    visible suggestion layer, or None."""
    from qgis.core import QgsFeatureRequest
    root = project.layerTreeRoot()
    for layer in project.mapLayers().values():
        if not is_suggestion_layer(layer):
            continue
        node = root.findLayer(layer.id())
        if node is not None and not node.isVisible():
            continue
        here = QgsGeometry.fromPointXY(point)
        if crs != layer.crs():
            here.transform(QgsCoordinateTransform(crs, layer.crs(), project))
        request = QgsFeatureRequest().setFilterRect(here.boundingBox())
        for feature in layer.getFeatures(request):
            if feature.geometry().contains(here):
                return layer, feature
    return None


def settle_suggestion(layer, feature, green: bool):
    """Give a suggested square the class it was marked with, so it shows as done."""
    index = layer.fields().indexOf("class")
    value = class_value(layer, green)
    if layer.isEditable():
        layer.changeAttributeValue(feature.id(), index, value)
    else:
        layer.dataProvider().changeAttributeValues({feature.id(): {index: value}})
    layer.triggerRepaint()


ROUND_PREFIX = "ugs_round_"


def rounds(project) -> tuple:
    """(the last round's model file or None, the next round's file): the toolbar's
    fine-tuning rounds, ``ugs_round_<n>.pt`` beside the reference layer's file."""
    folder = reference_file(project).parent
    done = []
    for path in folder.glob(f"{ROUND_PREFIX}*.pt"):
        number = path.stem[len(ROUND_PREFIX):]
        if number.isdigit():
            done.append((int(number), path))
    done.sort()
    last = done[-1] if done else (0, None)
    return last[1], folder / f"{ROUND_PREFIX}{last[0] + 1}.pt"
