"""What every algorithm shares: the base class (toolbox conventions, the one place
where engine errors become QgsProcessingException), the feedback bridge, inputs read
into the engine's types, styles for outputs loaded on completion."""
from __future__ import annotations

import importlib
import os

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsSettings,
)
from qgis.PyQt.QtCore import QCoreApplication

from .. import PLUGIN_DIR, qgis_compat
from ..core.config import DEVICES
from ..core.feedback import Feedback
from ..core.vectors import CHECK_FIELD
from ..dependencies import SETTING_KEY, ensure_onnxruntime, ensure_torch

STYLES = PLUGIN_DIR / "resources" / "styles"
README_URL = "https://github.com/ugs-plugin/ugs-qgis#"

# Toolbox groups: (id, name)
MAPPING = ("mapping", "Mapping")
ACCURACY = ("accuracy", "Accuracy")
MODELS = ("models", "Models")
STATISTICS = ("statistics", "Statistics")


class UgsAlgorithm(QgsProcessingAlgorithm):
    """Base of the provider's algorithms. A subclass declares its parameters and
    implements ``request`` (parameters -> the use case's request) and ``outputs``
    (result -> output dict); ``processAlgorithm`` is the same for all: parse, run the
    use case with the feedback bridge, render; engine errors and cancellation become
    a QgsProcessingException here and nowhere else."""

    NAME = DISPLAY_NAME = ""
    GROUP = MAPPING
    TAGS = ()
    HELP_ANCHOR = ""
    HELP = ""
    NEEDS_TORCH = False  # training-side algorithms: mapping runs without PyTorch
    use_case = None   # the core.workflows module with run(request, feedback)

    def createInstance(self):  # noqa: N802
        return type(self)()

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(self.GROUP[1])

    def groupId(self):  # noqa: N802
        return self.GROUP[0]

    def tags(self):
        return [self.tr(t) for t in self.TAGS]

    def shortHelpString(self):  # noqa: N802
        return self.tr(self.HELP)

    def helpUrl(self):  # noqa: N802
        return README_URL + self.HELP_ANCHOR

    def tr(self, text):
        return QCoreApplication.translate("UgsAlgorithm", text)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .settings import apply_threads
        require_engine(self.NEEDS_TORCH)
        apply_threads()
        from ..core.errors import Cancelled, UgsError
        try:
            request = self.request(parameters, context, feedback)
            result = self.use_case.run(request, QgisFeedback(feedback))
            return self.outputs(result, parameters, context, feedback)
        except (Cancelled, UgsError) as err:  # the same words as the CLI's "error: ..."
            raise QgsProcessingException(str(err)) from None

    def request(self, parameters, context, feedback):
        raise NotImplementedError

    def build_request(self, parameters, context, **given):
        """The use case's request from its options' parameters and ``given`` (the
        layers and outputs the algorithm read itself)."""
        from ..core.workflows.spec import build
        from .options import read_options
        options = self.use_case.OPTIONS
        return build(options, read_options(self, parameters, context, options), **given)

    def outputs(self, result, parameters, context, feedback):
        raise NotImplementedError

    # --- parameter readers that fail with the engine's words
    def reader(self, parameters, context):
        """value(name, kind) -> self.parameterAs<kind>(parameters, name, context)."""
        return lambda name, kind: getattr(self, f"parameterAs{kind}")(parameters, name,
                                                                       context)

    def raster_path(self, parameters, name, context):
        """The file behind a raster layer parameter (GDAL layers only)."""
        from ..core.errors import UgsError
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise UgsError(self.invalidRasterError(parameters, name))
        if layer.providerType() != "gdal":
            raise UgsError(f"'{layer.name()}' is a {layer.providerType()} layer; this "
                           "algorithm reads files through GDAL. Save it as a GeoTIFF "
                           "first (Export > Save As)")
        return layer.source()

    def vector_layer(self, parameters, name, context, optional=False):
        """A feature source parameter as the engine's VectorLayer (own CRS)."""
        from ..core.errors import UgsError
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            if optional and not parameters.get(name):
                return None
            raise UgsError(self.invalidSourceError(parameters, name))
        return read_source(source)

    def copy_with_fields(self, parameters, context, source_name, sink_name, names,
                         rows):
        """Write the features of the source parameter ``source_name``, with the
        ``names`` of ``rows`` (one dict per feature, in the source's order, as read
        into the request) appended, to the sink ``sink_name``; returns its id. The
        new fields' types come from core.fields."""
        from qgis.core import QgsFeature, QgsFields

        from ..core.errors import UgsError
        from ..core.fields import kind
        source = self.parameterAsSource(parameters, source_name, context)
        fields = QgsFields(source.fields())
        for name in names:
            fields.append(qgis_compat.field(name, kind(name)))
        sink, dest = self.parameterAsSink(parameters, sink_name, context, fields,
                                          source.wkbType(), source.sourceCrs())
        if sink is None:
            raise UgsError(self.invalidSinkError(parameters, sink_name))
        for original, row in zip(source.getFeatures(), rows):
            out = QgsFeature(fields)
            out.setGeometry(original.geometry())
            out.setAttributes(original.attributes() + [row[n] for n in names])
            sink.addFeature(out, qgis_compat.FAST_INSERT)
        return dest

    def schema_sink(self, parameters, name, context, schema, wkb_type, crs):
        """(sink, id, fields) of a new layer with the fields of ``schema`` ((name,
        kind) pairs from core.fields)."""
        from qgis.core import QgsFields

        from ..core.errors import UgsError
        fields = QgsFields()
        for field_name, kind in schema:
            fields.append(qgis_compat.field(field_name, kind))
        sink, dest = self.parameterAsSink(parameters, name, context, fields, wkb_type, crs)
        if sink is None:
            raise UgsError(self.invalidSinkError(parameters, name))
        return sink, dest, fields

    def device(self, parameters, context):
        return DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]


def read_source(source, name=None):
    """Every feature of a QgsFeatureSource as (shapely geometry or None, attributes),
    with its CRS as WKT (None when unknown)."""
    from shapely import wkb

    from ..core.vectors import VectorLayer
    names = tuple(source.fields().names())
    features = []
    for feature in source.getFeatures():
        geom = None
        if feature.hasGeometry() and not feature.geometry().isEmpty():
            geom = wkb.loads(bytes(feature.geometry().asWkb()))
        features.append((geom, {n: _python(feature[n]) for n in names}))
    crs = source.sourceCrs()
    return VectorLayer(name or source.sourceName(), features,
                       crs.toWkt() if crs.isValid() else None, names)


def _python(value):
    """QVariant NULLs and Qt types as plain Python values."""
    from qgis.PyQt.QtCore import QVariant
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return None
    return value


class QgisFeedback(Feedback):
    """The engine's feedback protocol on a QgsProcessingFeedback."""

    def __init__(self, feedback):
        self.feedback = feedback

    def progress(self, percent, text=""):
        self.feedback.setProgress(percent)
        if text:
            self.feedback.setProgressText(text)

    def is_cancelled(self):
        return self.feedback.isCanceled()

    def info(self, message):
        self.feedback.pushInfo(message)

    def warning(self, message):
        self.feedback.pushWarning(message)


def dependency_setting() -> str:
    """Folders to search: the settings page's, then the ``ugs/python_path`` key."""
    from .settings import FOLDER, value
    folders = [value(FOLDER, ""), QgsSettings().value(SETTING_KEY, "", type=str)]
    return os.pathsep.join(f for f in folders if f)


def find_engine_packages():
    """Put PyTorch, then ONNX Runtime, on sys.path if a searched folder has them
    (torch first: it puts its own sympy ahead of Debian's); (PyTorch found, its
    how-to-install message, ONNX Runtime found, its message)."""
    where = (PLUGIN_DIR, dependency_setting(), QgsApplication.qgisSettingsDirPath())
    return (*ensure_torch(*where), *ensure_onnxruntime(*where))


def require_engine(needs_torch: bool = False):
    """Find the engine's packages or fail with instructions: PyTorch for training,
    fine-tuning and adaptation; ONNX Runtime (or PyTorch) for mapping."""
    has_torch, torch_message, has_onnxruntime, onnx_message = find_engine_packages()
    if needs_torch and not has_torch:
        raise QgsProcessingException(f"This algorithm trains a model and needs "
                                     f"PyTorch. {torch_message}")
    if not (has_torch or has_onnxruntime):
        raise QgsProcessingException(onnx_message)
    # Fail here, with the messages above, rather than deep inside an algorithm.
    importlib.import_module(__package__.rsplit(".", 1)[0] + ".core.mapping.predict")
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


class Choropleth(QgsProcessingLayerPostProcessorInterface):
    """A graduated style (5 quantile classes, pale to dark green; dark to pale with
    ``reverse``, for fields where less is better) on ``field`` of a loaded output."""

    def __init__(self, field: str, reverse: bool = False):
        super().__init__()
        self.field, self.reverse = field, reverse

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from qgis.core import (
            QgsClassificationQuantile,
            QgsGradientColorRamp,
            QgsGraduatedSymbolRenderer,
        )
        from qgis.PyQt.QtGui import QColor
        renderer = QgsGraduatedSymbolRenderer(self.field)
        renderer.setClassificationMethod(QgsClassificationQuantile())
        renderer.updateClasses(layer, 5)
        pale, dark = QColor("#f7fcf5"), QColor("#00441b")
        renderer.updateColorRamp(QgsGradientColorRamp(*((dark, pale) if self.reverse
                                                        else (pale, dark))))
        layer.setRenderer(renderer)
        layer.triggerRepaint()


# QGIS holds post-processors by raw pointer: the Python objects must outlive the
# algorithm instance, so they live here, one per output path (a reused path
# replaces its entry).
_POST_PROCESSORS = {}


def attach_post_processor(context, output_value, processor):
    """Run ``processor`` on ``output_value`` when QGIS loads it on completion."""
    if output_value and context.willLoadLayerOnCompletion(output_value):
        _POST_PROCESSORS[output_value] = processor
        context.layerToLoadOnCompletionDetails(output_value).setPostProcessor(processor)


def attach_style(context, output_value, qml_name, layer_name=None):
    """Style ``output_value`` with ``qml_name`` if it is set to load on completion."""
    attach_post_processor(context, output_value, StyleLoader(qml_name, layer_name))


def apply_reference_style(layer):
    """Value-map editor on ``class`` (Green space = 1, Other = 0) and a categorized
    renderer, so digitizing starts at once."""
    from qgis.core import (
        QgsCategorizedSymbolRenderer,
        QgsEditorWidgetSetup,
        QgsRendererCategory,
        QgsSymbol,
    )
    from qgis.PyQt.QtGui import QColor
    index = layer.fields().indexOf("class")
    if index < 0:
        return
    layer.setEditorWidgetSetup(index, QgsEditorWidgetSetup(
        "ValueMap", {"map": [{"Green space": "1"}, {"Other": "0"}]}))
    check = layer.fields().indexOf(CHECK_FIELD)
    if check >= 0:  # a tick: the mark only checks a fine-tuning
        layer.setEditorWidgetSetup(check, QgsEditorWidgetSetup(
            "CheckBox", {"CheckedState": "1", "UncheckedState": "0"}))
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
