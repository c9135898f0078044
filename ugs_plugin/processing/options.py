"""A workflow's options (core/workflows/spec.py) as Processing parameters, and the
parameters' values read back as the request's. The device and model defaults come
from the provider's settings page, which is what a QGIS user sets them with."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import qgis_compat

FIELD_TYPES = {"any": qgis_compat.FIELD_ANY, "numeric": qgis_compat.FIELD_NUMERIC,
               "string": qgis_compat.FIELD_STRING}


def add_options(alg, options, advanced_only: bool | None = None):
    """Declare ``options`` on ``alg``: all, or only the (not) advanced ones."""
    for option in options:
        if not option.qgis or (advanced_only is not None
                               and option.advanced != advanced_only):
            continue
        param = parameter(alg, option)
        if option.help:
            param.setHelp(alg.tr(option.help))
        if option.advanced:
            param.setFlags(param.flags() | qgis_compat.FLAG_ADVANCED)
        alg.addParameter(param)


def parameter(alg, option):
    label, default = alg.tr(option.label), setting_default(option)
    kind, optional = option.kind, option.is_optional
    if option.unset is not None and option.unset_means:
        label += alg.tr(f" ({option.unset:g} = {option.unset_means})")
    if kind in ("int", "float"):
        number_type = (qgis_compat.NUMBER_INTEGER if kind == "int"
                       else qgis_compat.NUMBER_DOUBLE)
        limits = {}
        low = option.minimum
        if option.unset is not None:
            low = option.unset if low is None else min(low, option.unset)
        if low is not None:  # in the dialog's units (a percentage, say)
            limits["minValue"] = low * option.scale
        if option.maximum is not None:
            limits["maxValue"] = option.maximum * option.scale
        return QgsProcessingParameterNumber(option.key, label, number_type, default,
                                            optional, **limits)
    if kind == "bool":
        return QgsProcessingParameterBoolean(option.key, label, bool(default), optional)
    if kind == "choice":
        labels = option.choice_labels or option.choices
        return QgsProcessingParameterEnum(
            option.key, label, options=[alg.tr(str(v)) for v in labels],
            defaultValue=option.choices.index(default), optional=optional)
    if kind in ("file", "folder"):
        behaviour = {"behavior": qgis_compat.FILE_FOLDER} if kind == "folder" else {}
        return QgsProcessingParameterFile(option.key, label, extension=option.extension,
                                          defaultValue=default or None,
                                          optional=optional, **behaviour)
    if kind == "field":
        return QgsProcessingParameterField(
            option.key, label, default or None, option.parent,
            FIELD_TYPES[option.field_type], optional=optional)
    return QgsProcessingParameterString(option.key, label, default or None,
                                        optional=optional)


def setting_default(option):
    """The settings page's default device and model; the option's otherwise."""
    from .settings import DEVICE, MODEL, value
    shown = option.shown_default()
    if option.key == "DEVICE":
        found = value(DEVICE, shown)
        return found if found in option.choices else shown
    if option.key == "MODEL":
        return value(MODEL, shown)
    return shown


def read_options(alg, parameters, context, options) -> dict:
    """{key: the request's value} of every option declared in Processing."""
    readers = {"int": "Int", "float": "Double", "bool": "Bool", "choice": "Enum",
               "file": "File", "folder": "File"}
    values = {}
    for option in options:
        if not option.qgis:
            continue
        kind = readers.get(option.kind, "String")
        raw = getattr(alg, f"parameterAs{kind}")(parameters, option.key, context)
        if option.kind == "choice":
            raw = option.choices[raw]
        values[option.key] = option.parse(raw, name=option.label)
    return values
