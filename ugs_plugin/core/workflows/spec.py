"""The tunable inputs of each workflow, declared once: the request attribute an input
sets, the Processing key and the CLI flag it goes by, its label, help and range, and
its default, read from the request dataclass itself. Both fronts build their
parameters from these declarations (processing/options.py, cli/options.py), so a
default, a range or a help text exists in one place. Layers, rasters and output
paths are not here: they are a layer parameter in QGIS and a file argument on the
command line, declared by each front."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import DEVICES
from ..errors import UgsError

KINDS = ("int", "float", "bool", "choice", "text", "values", "bands", "numbers", "file",
         "folder", "field")


@dataclass(frozen=True)
class Option:
    target: str                # request attribute; "config.lr" for one of its config
    key: str                   # Processing parameter name
    label: str                 # the dialog's label; --help starts with it
    kind: str = "int"
    help: str = ""             # more words for --help and the dialog's tooltip
    minimum: float | None = None  # in the request's units
    maximum: float | None = None
    choices: tuple = ()        # kind choice: the values the request takes
    choice_labels: tuple = ()  # ... as the dialog shows them (default: the values)
    advanced: bool = False
    optional: bool | None = None  # None: optional when the default is empty
    flag: str = ""             # CLI flag; default --key-in-lower-case
    parent: str = ""           # kind field: the layer parameter it names a field of
    field_type: str = "any"    # kind field: any, numeric, string
    extension: str = ""        # kind file
    unset: float | None = None  # number a dialog shows for a None default ...
    unset_means: str = ""       # ... and what None means
    scale: float = 1.0         # a front's number = request value * scale (percent)
    range_hint: str = ""       # an out-of-range error's words, default "must be ..."
    cli: bool = True           # declared on the command line
    qgis: bool = True          # declared in Processing
    default: object = None     # read from the request by bind()

    def but(self, **changes) -> "Option":
        return dataclasses.replace(self, **changes)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.key.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        return self.key.lower()

    @property
    def is_optional(self) -> bool:
        if self.optional is not None:
            return self.optional
        return self.default in (None, "", ())

    def shown_default(self):
        """The default as a front shows it: in front units, a list as text."""
        value = self.default
        if value is None:
            return self.unset
        if self.kind in ("int", "float") and self.scale != 1:
            return value * self.scale
        if self.kind in ("values", "bands", "numbers"):
            return ",".join(str(v) for v in value)
        return value

    def describe(self) -> str:
        """Label, help and default in one line, for --help."""
        text = self.label + (f"; {self.help}" if self.help else "")
        shown = self.shown_default()
        if self.default is not None and shown not in ("", ()):
            if self.kind == "bool":
                shown = "on" if shown else "off"
            elif isinstance(shown, float):
                shown = f"{shown:g}"
            text += f" (default: {shown})"
        elif self.unset_means:
            text += f" (default: {self.unset_means})"
        return text

    def parse(self, raw, name: str | None = None):
        """A front's value as the request's: None and empty take the default;
        numbers are range-checked (``name`` says which input in the error)."""
        from ..vectors import parse_values
        if self.kind in ("int", "float"):
            if raw is None or (self.unset is not None and raw == self.unset):
                return self.default
            self.check_range(raw, name or self.cli_flag)
            return raw / self.scale if self.scale != 1 else raw
        if self.kind == "bool":
            return self.default if raw is None else bool(raw)
        if self.kind == "choice":
            if raw in (None, ""):
                return self.default
            if raw not in self.choices:
                raise UgsError(f"{name or self.cli_flag} {raw!r} is not one of "
                               f"{', '.join(map(str, self.choices))}")
            return raw
        if self.kind == "values":
            return parse_values(raw, self.default)
        if self.kind == "bands":
            from ..mapping.imagery import parse_band_list
            return parse_band_list(raw) if raw else self.default
        if self.kind == "numbers":
            if not raw:
                return self.default
            numbers = parse_numbers(raw, name or self.cli_flag)
            if self.default and len(numbers) != len(self.default):
                raise UgsError(f"{name or self.cli_flag} takes {len(self.default)} "
                               f"comma-separated numbers, e.g. {self.shown_default()}; "
                               f"not {raw!r}")
            return numbers
        return raw if raw not in (None, "") else self.default

    def check_range(self, value, name):
        """``value`` in front units (so a percentage against 1..99)."""
        low, high = (None if v is None else v * self.scale
                     for v in (self.minimum, self.maximum))
        if (low is None or value >= low) and (high is None or value <= high):
            return
        if self.range_hint:
            why = self.range_hint
        elif high is None:
            why = f"must be at least {low:g}"
        elif low is None:
            why = f"must be at most {high:g}"
        else:
            why = f"must be from {low:g} to {high:g}"
        raise UgsError(f"{name} {why}, not {value:g}")


def parse_numbers(text, name="value") -> tuple:
    """'0.8,1.25' -> (0.8, 1.25)."""
    try:
        return tuple(float(v) for v in str(text).replace(" ", "").split(",") if v)
    except ValueError:
        raise UgsError(f"{name} {text!r} is not a comma-separated list of numbers "
                       "such as 0.8,1.25") from None


def default_of(request_class, target: str):
    """The default of ``target`` ("lr" or "config.lr") in ``request_class``."""
    head, _, rest = target.partition(".")
    found = {f.name: f for f in dataclasses.fields(request_class)}.get(head)
    if found is None:
        raise TypeError(f"{request_class.__name__} has no field {head!r}")
    if found.default is not dataclasses.MISSING:
        value = found.default
    elif found.default_factory is not dataclasses.MISSING:
        value = found.default_factory()
    else:
        raise TypeError(f"{request_class.__name__}.{head} has no default to offer")
    return getattr(value, rest) if rest else value


class Options(tuple):
    """A workflow's options, with the request class they fill."""
    request_class: type


def bind(request_class, *options: Option) -> Options:
    """``options`` with their defaults read from ``request_class``."""
    bound = Options(o.but(default=default_of(request_class, o.target)) for o in options)
    bound.request_class = request_class
    for option in bound:
        assert option.kind in KINDS, option
    keys = [o.key for o in bound]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return bound


def build(options: Options, values: dict, **given):
    """The request from ``given`` (inputs and outputs, by attribute) and ``values``
    (parsed option values, by Option.key; an absent key keeps its default)."""
    request_class = options.request_class
    top, nested = dict(given), {}
    for option in options:
        if option.key not in values:
            continue
        head, _, rest = option.target.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = values[option.key]
        else:
            top[head] = values[option.key]
    for head, changes in nested.items():
        base = top.get(head) or default_of(request_class, head)
        top[head] = dataclasses.replace(base, **changes)
    return request_class(**top)


# Inputs that several workflows share, declared once.
MODEL = Option("model", "MODEL", "Model file (empty = the bundled model)", "file",
               extension="pt", help="on a CUDA GPU, models/ugsnet_full.pt when present")
BASE_MODEL = MODEL.but(label="Base model (empty = the bundled model)", help="")
DEVICE = Option("device", "DEVICE", "Device", "choice", choices=DEVICES,
                help="auto: CUDA, then MPS, then CPU")
BANDS = Option("bands", "BANDS", "Band mapping: band numbers of red, green, blue "
               "(empty = automatic)", "bands", advanced=True, help="e.g. 3,2,1")
GREEN_VALUES = Option("green_values", "GREEN_VALUES", "Values meaning green space "
                      "(comma-separated)", "values")
SOURCE = Option("source", "SOURCE", "Labelled source tiles, UGSet layout (empty = the "
                "shipped sample)", "folder", advanced=True)


def class_field(parent: str, **changes) -> Option:
    return Option("class_field", "FIELD", "Class field", "field",
                  parent=parent).but(**changes)


def seed(target: str = "seed") -> Option:
    return Option(target, "SEED", "Random seed", minimum=0, advanced=True)
