"""ugs:suggestplacestomark: squares where the model is least sure, or where two rounds'
models disagree, to mark next for fine-tuning."""
from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterLayer,
    QgsRectangle,
)

from .. import qgis_compat
from ..core.fields import SUGGESTION_FIELDS
from ..core.workflows import suggest
from .common import MODELS, UgsAlgorithm, attach_post_processor
from .options import add_options

SUGGESTIONS_PROPERTY = "ugs/suggestions"


class SuggestPlacesToMark(UgsAlgorithm):
    NAME = "suggestplacestomark"
    DISPLAY_NAME = "Suggest places to mark"
    GROUP = MODELS
    TAGS = ("UGSNet", "fine-tune", "uncertainty", "active learning", "reference",
            "marks")
    HELP_ANCHOR = "teaching-the-model-your-imagery-fine-tune-on-a-few-polygons-"\
        "ugsfinetuneonreference"
    use_case = suggest
    HELP = (
        "Where to mark next: maps the raster with the current model and writes small "
        "squares where the map is least sure (the two classes closest in "
        "probability), spread over the kinds of surface the raster has (colour and "
        "how green it is mapped), so the marks teach different things, not ten "
        "times the same one.<br><br>"
        "<b>Model of the round before</b> (optional): squares also go where the "
        "current and the previous model map differently.<br><br>"
        "<b>Check squares</b> (<tt>check</tt> 1, dashed): placed at random, half where "
        "the map says green and half elsewhere. Mark them like the others: fine-tuning "
        "never trains on them but holds them out to decide whether its model is "
        "written, since the unsure places over-state what it gains.<br><br>"
        "With <i>Mark green space</i> or <i>Mark not green space</i> active, one click "
        "inside a suggested square marks the whole square with that class (and gives "
        "the square its class here). Then run <i>Fine-tune model on reference "
        "polygons</i> again with all the marks so far.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Raster")))
        add_options(self, suggest.OPTIONS)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Places to mark"), qgis_compat.SOURCE_VECTOR_POLYGON))
        self.addOutput(QgsProcessingOutputNumber("COUNT_WRITTEN",
                                                 self.tr("Squares written")))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, image=self.raster_path(parameters, "INPUT", context))

    def outputs(self, result, parameters, context, feedback):
        crs = self.parameterAsRasterLayer(parameters, "INPUT", context).crs()
        sink, dest, fields = self.schema_sink(parameters, "OUTPUT", context, SUGGESTION_FIELDS,
                                              qgis_compat.WKB_POLYGON, crs)
        for s in result.suggestions:
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(*s.bounds)))
            feature.setAttributes([s.rank, round(s.uncertainty, 4),
                                   None if s.disagreement is None
                                   else round(s.disagreement, 4), int(s.check), None])
            sink.addFeature(feature, qgis_compat.FAST_INSERT)
        attach_post_processor(context, dest, SuggestionStyler())
        return {"OUTPUT": dest, "COUNT_WRITTEN": len(result.suggestions)}


class SuggestionStyler(QgsProcessingLayerPostProcessorInterface):
    """Magenta outlines (dashed: check squares) and the property the marking tools
    look for."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from qgis.core import (
            QgsCategorizedSymbolRenderer,
            QgsFillSymbol,
            QgsRendererCategory,
        )
        categories = []
        for value, label, style in ((0, "place to mark", "solid"),
                                    (1, "check square", "dash")):
            symbol = QgsFillSymbol.createSimple({
                "color": "255,0,255,30", "outline_color": "255,0,255,255",
                "outline_width": "0.6", "outline_style": style})
            categories.append(QgsRendererCategory(value, symbol, label))
        layer.setRenderer(QgsCategorizedSymbolRenderer("check", categories))
        layer.setCustomProperty(SUGGESTIONS_PROPERTY, True)
        layer.setName("Places to mark")
        layer.triggerRepaint()
