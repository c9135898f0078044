"""Vector files for the CLI (any OGR format in, GeoPackages out), with the field names
and types of core.fields."""
from __future__ import annotations

import contextlib
import os

from ..core import fields


def ogr_modules():
    """(ogr, osr) with GDAL's exceptions on: GDAL 3.10 warns on every use until a
    mode is chosen, and GDAL 4 makes exceptions the default."""
    from osgeo import ogr, osr
    ogr.UseExceptions()
    osr.UseExceptions()
    return ogr, osr


def ogr_field_type(ogr, kind):
    """The OGR type of a core.fields kind."""
    return {"string": ogr.OFTString, "int": ogr.OFTInteger, "int64": ogr.OFTInteger64,
            "double": ogr.OFTReal}[kind]


def read_layer(path, name=None):
    """A vector file (any OGR format, first layer) as the engine's VectorLayer, in its
    own CRS."""
    from shapely import wkb

    from ..core.errors import UgsError
    from ..core.vectors import VectorLayer
    if not os.path.exists(path):
        raise UgsError(f"the vector file {path} does not exist; check the path")
    ogr, osr = ogr_modules()
    try:
        ds = ogr.Open(str(path))
    except RuntimeError:
        ds = None
    if ds is None or ds.GetLayerCount() == 0:
        raise UgsError(f"cannot open {path} as a vector dataset (GeoPackage, "
                       "Shapefile, GeoJSON, ...)")
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = tuple(defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount()))
    srs = layer.GetSpatialRef()
    if srs is not None:
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    features = []
    for feature in layer:
        geom = feature.GetGeometryRef()
        shape = wkb.loads(bytes(geom.ExportToWkb())) if geom is not None else None
        features.append((shape, {f: feature.GetField(f) for f in names}))
    return VectorLayer(name or os.path.basename(str(path)), features,
                       srs.ExportToWkt() if srs is not None else None, names)


def optional_layer(path):
    return read_layer(path) if path else None


def write_layer(path, layer, names, rows):
    """``layer``'s features (own CRS, own fields) with ``names`` of ``rows`` appended,
    as a GeoPackage."""
    ogr, _ = ogr_modules()
    name = os.path.splitext(os.path.basename(path))[0]
    with new_geopackage(path, name, layer.crs, ogr.wkbUnknown) as out:
        for field in layer.fields:
            values = [a.get(field) for _, a in layer.features if a.get(field) is not None]
            kind = (ogr.OFTInteger64 if values and all(isinstance(v, int) for v in values)
                    else ogr.OFTReal if values and all(isinstance(v, (int, float))
                                                       for v in values)
                    else ogr.OFTString)
            out.CreateField(ogr.FieldDefn(field, kind))
        for field in names:
            out.CreateField(ogr.FieldDefn(field, ogr_field_type(ogr, fields.kind(field))))
        for (geom, attrs), row in zip(layer.features, rows):
            feature = ogr.Feature(out.GetLayerDefn())
            if geom is not None:
                feature.SetGeometry(ogr.CreateGeometryFromWkb(geom.wkb))
            for field in layer.fields:
                if attrs.get(field) is not None:
                    feature.SetField(field, attrs[field])
            for field in names:
                value = row.get(field)
                if value is not None:
                    feature.SetField(field, str(value) if field == "zone_id"
                                     else float(value))
            out.CreateFeature(feature)


@contextlib.contextmanager
def new_geopackage(path, layer_name, crs_wkt, geometry_type):
    """An empty GeoPackage layer to fill, written beside ``path`` and moved into place
    when the block completes."""
    from ..core.errors import UgsError, check_output_path
    from ..core.outputs import atomic_output
    check_output_path(path, (), (".gpkg",))
    with atomic_output(path, ".gpkg") as tmp:
        os.remove(tmp)  # the GeoPackage driver creates the file itself
        ogr, osr = ogr_modules()
        try:
            ds = ogr.GetDriverByName("GPKG").CreateDataSource(tmp)
        except RuntimeError as err:
            raise UgsError(f"cannot create {path}: {err}") from None
        srs = None
        if crs_wkt:
            srs = osr.SpatialReference()
            srs.ImportFromWkt(crs_wkt)
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        yield ds.CreateLayer(layer_name, srs, geometry_type)
        ds = None  # flushed and closed before the move


def write_points(path, result):
    """The sample as a GeoPackage layer with the fields assess reads back."""
    ogr, _ = ogr_modules()
    crs = result.crs.to_wkt() if result.crs is not None else None
    with new_geopackage(path, "validation_points", crs, ogr.wkbPoint) as layer:
        for name, kind in fields.SAMPLE_POINT_FIELDS:
            layer.CreateField(ogr.FieldDefn(name, ogr_field_type(ogr, kind)))
        for i, (x, y, stratum) in enumerate(result.points, start=1):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x!r} {y!r})"))
            for name, value in (("id", i), ("stratum", stratum),
                                ("stratum_pixels", result.stratum_pixels[stratum]),
                                ("map_class", stratum)):
                feature.SetField(name, value)
            layer.CreateFeature(feature)


def write_suggestions(path, result):
    """The suggested squares as a GeoPackage polygon layer, ``class`` empty."""
    ogr, _ = ogr_modules()
    with new_geopackage(path, "places_to_mark", result.crs, ogr.wkbPolygon) as layer:
        for name, kind in fields.SUGGESTION_FIELDS:
            layer.CreateField(ogr.FieldDefn(name, ogr_field_type(ogr, kind)))
        for s in result.suggestions:
            left, bottom, right, top = s.bounds
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromWkt(
                f"POLYGON (({left!r} {bottom!r}, {right!r} {bottom!r}, {right!r} "
                f"{top!r}, {left!r} {top!r}, {left!r} {bottom!r}))"))
            feature.SetField("rank", s.rank)
            feature.SetField("uncertainty", round(s.uncertainty, 4))
            feature.SetField("check", int(s.check))
            if s.disagreement is not None:
                feature.SetField("disagreement", round(s.disagreement, 4))
            layer.CreateFeature(feature)
