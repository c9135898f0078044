"""One declaration per tunable input (core/workflows/spec.py), read by both fronts:
the Processing parameters and the CLI arguments built from it carry the request's
default, the same range and the same words, and no algorithm declares a tunable of
its own beside the spec."""
import argparse

import pytest

from ugs_plugin.cli import COMMANDS, build_parser
from ugs_plugin.core.errors import UgsError
from ugs_plugin.core.workflows import finetune, indicators, spec

# The inputs a front declares itself: layers, files read and outputs written.
FRONT_INPUTS = {"INPUT", "REFERENCE", "REGION", "BOUNDARY", "ZONES", "BUILDINGS",
                "PARKS", "NETWORK", "GRID", "MAP_A", "MAP_B", "TILES", "PAIRS"}


def algorithms(qgis_app):
    from qgis.core import QgsApplication
    provider = QgsApplication.processingRegistry().providerById("ugs")
    return [a for a in provider.algorithms() if getattr(a, "use_case", None)]


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction))
    return action.choices


def same(a, b):
    """The same declarations (the plugin QGIS loaded is its own copy of the package)."""
    return (a.request_class.__name__ == b.request_class.__name__
            and [(o.key, o.target) for o in a] == [(o.key, o.target) for o in b])


def cli_command(options):
    """The CLI subparser whose module declares ``options``."""
    for module in COMMANDS:
        if hasattr(module, "OPTIONS") and same(module.OPTIONS, options):
            return subparsers()[module.__name__.rsplit(".", 1)[1]]
    return None


def test_every_algorithm_parameter_is_a_spec_option_or_a_front_input(qgis_app):
    from qgis.core import QgsProcessingDestinationParameter
    checked = 0
    for alg in algorithms(qgis_app):
        keys = {o.key for o in alg.use_case.OPTIONS if o.qgis}
        for param in alg.parameterDefinitions():
            if isinstance(param, QgsProcessingDestinationParameter):
                continue
            assert param.name() in keys | FRONT_INPUTS, (alg.id(), param.name())
            checked += 1
    assert checked > 60


def test_processing_parameters_carry_the_request_defaults_and_ranges(qgis_app):
    from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterNumber

    from ugs_plugin.qgis_compat import FLAG_ADVANCED
    seen = 0
    for alg in algorithms(qgis_app):
        for option in alg.use_case.OPTIONS:
            if not option.qgis:
                continue
            param = alg.parameterDefinition(option.key)
            assert param is not None, (alg.id(), option.key)
            assert param.description().startswith(option.label)
            assert bool(param.flags() & FLAG_ADVANCED) == option.advanced, option
            if isinstance(param, QgsProcessingParameterNumber):
                shown = option.shown_default()
                assert param.defaultValue() == pytest.approx(shown), option
                if option.maximum is not None:
                    assert param.maximum() == pytest.approx(option.maximum
                                                            * option.scale)
                seen += 1
            elif isinstance(param, QgsProcessingParameterEnum) and option.key != "DEVICE":
                assert option.choices[param.defaultValue()] == option.default
    assert seen > 30


def test_cli_arguments_carry_the_same_defaults_and_help(qgis_app):
    commands = 0
    for alg in algorithms(qgis_app):
        parser = cli_command(alg.use_case.OPTIONS)
        if parser is None:   # create-reference-layer has no command
            continue
        commands += 1
        by_dest = {a.dest: a for a in parser._actions}
        for option in alg.use_case.OPTIONS:
            if not option.cli:
                continue
            action = by_dest[option.dest]
            assert option.cli_flag in action.option_strings
            assert action.help.replace("%%", "%") == option.describe()
            if option.kind == "choice":
                assert action.default == option.default
                assert tuple(action.choices) == option.choices
    assert commands == 12


def test_cli_and_processing_defaults_give_the_same_request(qgis_app, tmp_path):
    """Parsed with nothing but the required inputs, both fronts' options give the
    request's own defaults."""
    parser = cli_command(finetune.OPTIONS)
    args = parser.parse_args(["image.tif", "ref.gpkg", str(tmp_path / "m.pt")])
    from ugs_plugin.cli.options import option_values
    request = spec.build(finetune.OPTIONS, option_values(args, finetune.OPTIONS),
                         image="image.tif", reference=None, output="m.pt")
    assert request == finetune.FinetuneRequest("image.tif", None, "m.pt")


def test_out_of_range_value_is_a_one_line_error_naming_the_flag():
    parser = cli_command(indicators.OPTIONS)
    args = parser.parse_args(["map.tif", "zones.gpkg", "--cover-target", "150"])
    from ugs_plugin.cli.options import option_values
    with pytest.raises(UgsError, match=r"--cover-target is a percentage.*not 150"):
        option_values(args, indicators.OPTIONS)
    args = parser.parse_args(["map.tif", "zones.gpkg", "--cover-target", "30",
                              "--distance", "0.5"])
    with pytest.raises(UgsError, match=r"--distance must be at least 1, not 0.5"):
        option_values(args, indicators.OPTIONS)
    values = option_values(parser.parse_args(["map.tif", "zones.gpkg",
                                              "--cover-target", "40"]),
                           indicators.OPTIONS)
    assert values["COVER_TARGET"] == pytest.approx(0.40)


def test_bind_reads_defaults_from_the_request_and_rejects_unknown_targets():
    (option,) = spec.bind(finetune.FinetuneRequest, spec.Option(
        "config.iterations", "ITERATIONS", "Iterations"))
    assert option.default == finetune.FinetuneConfig().iterations
    with pytest.raises(TypeError, match="no field 'nonsense'"):
        spec.bind(finetune.FinetuneRequest, spec.Option("nonsense", "X", "x"))
