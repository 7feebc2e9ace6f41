"""How a setting is declared: once, on its field of a settings class, with everything about it in one place.

    mirror_tag_key: str = setting("MIRROR_TAG_KEY", tag_text, default="mirror", parameter="MirrorTagKey")

names the field and its type, the environment variable it is read from, the parser that validates it (and raises a
``ConfigurationError`` naming the variable), its default (none: required) and the template parameter that sets the
variable (None: the template sets it otherwise). The loaders (``config.load_settings``,
``incident.load_incident_settings``, ``lifecycle.load_lifecycle_settings``) read every declared field with ``load``;
the deploy check names parameters and ``mirror-audit --stack-json`` maps them from the same declarations; and
tests/integration/test_settings_declarations.py holds them to template.yaml's parameters, defaults and variables.

A declared default is the field's dataclass default, so ``Settings.session_hourly_price`` is the price a stack
deployed with its defaults uses (bench/cost.py and the commands' help quote it from there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform, overload

from traffic_mirroring.errors import ConfigurationError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
C = TypeVar("C", bound="DataclassInstance")

_DECLARATION = "setting"  # the key of a field's metadata that holds its Setting


@dataclass(frozen=True)
class Setting:
    """One setting, as its field declares it (``setting``)."""

    variable: str
    # (the variable's value, never blank; the variable's name) -> the value, or a ConfigurationError naming it
    parse: Callable[[str, str], Any]
    parameter: str | None  # the template parameter the variable is set from; None: none sets it
    default: Any = MISSING  # MISSING, with no default_factory either: required
    default_factory: Callable[[], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def read(self, env: Mapping[str, str]) -> Any:
        """Unset or blank: the default (a required setting is refused); else what its parser makes of the value."""
        raw = env.get(self.variable)
        if raw is None or not raw.strip():
            if self.required:
                raise ConfigurationError(f"{self.variable} is required but not set")
            return self.default_value()
        return self.parse(raw, self.variable)


@overload
def setting(variable: str, parse: Callable[[str, str], T], *, default: T, parameter: str | None = None) -> T: ...
@overload
def setting(
    variable: str, parse: Callable[[str, str], T], *, default_factory: Callable[[], T], parameter: str | None = None
) -> T: ...
@overload
def setting(variable: str, parse: Callable[[str, str], T], *, parameter: str | None = None) -> T: ...
def setting(
    variable: str,
    parse: Callable[[str, str], Any],
    *,
    default: Any = MISSING,
    default_factory: Any = None,
    parameter: str | None = None,
) -> Any:
    """The field of a setting: a dataclass field with that default, carrying its ``Setting``. Typed as the value, so
    mypy checks the parser and the default against the field's annotation (``settings_class``)."""
    declared = Setting(variable, parse, parameter, default, default_factory)
    return field(
        default=default,
        default_factory=MISSING if default_factory is None else default_factory,
        metadata={_DECLARATION: declared},
    )


@dataclass_transform(frozen_default=True, field_specifiers=(setting, field))
def settings_class(cls: type[C]) -> type[C]:
    """A frozen dataclass whose ``setting`` fields type checkers read as fields (PEP 681): a required setting is a
    required argument, a default is checked against the annotation."""
    return dataclass(frozen=True)(cls)


def declarations(cls: type[DataclassInstance]) -> dict[str, Setting]:
    """Every setting a settings class declares, by field name, in the order of its fields."""
    return {f.name: f.metadata[_DECLARATION] for f in fields(cls) if _DECLARATION in f.metadata}


def load(cls: type[C], env: Mapping[str, str] | None = None) -> C:
    """An instance of the settings class from the environment (or a given mapping, for tests): each declared field
    read in the order of the fields, so the first refusal is the first field's. Raises ConfigurationError."""
    env = os.environ if env is None else env
    return cls(**{name: declared.read(env) for name, declared in declarations(cls).items()})


# -- parsers shared by the settings classes: (value, variable) -> value ----------------------------------------------
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def tag_text(raw: str, name: str) -> str:
    """A tag key or value: stripped, at most 128 characters, no comma, tab or line break."""
    value = raw.strip()
    if len(value) > 128 or any(ch in value for ch in ",\n\r\t"):
        raise ConfigurationError(f"{name}={raw!r} is not a valid tag key or value")
    return value


def flag(raw: str, name: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} must be true or false")


@dataclass(frozen=True)
class Number:
    """A number from ``low`` to ``high`` (the template's MinValue and MaxValue, where it has them)."""

    low: float
    high: float

    def __call__(self, raw: str, name: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a number") from None
        if not self.low <= value <= self.high:
            raise ConfigurationError(f"{name}={raw!r} must be between {self.low:g} and {self.high:g}")
        return value


@dataclass(frozen=True)
class WholeNumber(Number):
    """A Number, its fraction dropped."""

    def __call__(self, raw: str, name: str) -> int:
        return int(super().__call__(raw, name))


def stripped(raw: str, name: str) -> str:
    """Any text, without spaces at either end."""
    return raw.strip()


def tag_value(raw: str, name: str) -> str:
    """Any text of at most 256 characters, an EC2 tag value's limit."""
    value = raw.strip()
    if len(value) > 256:
        raise ConfigurationError(f"{name} is longer than a tag value may be (256 characters)")
    return value


def id_list(raw: str, name: str) -> tuple[str, ...]:
    """IDs separated by commas, each without spaces and at most 64 characters; blanks dropped."""
    items = [item.strip() for item in raw.split(",")]
    ids = [item for item in items if item]
    for item in ids:
        if any(ch.isspace() for ch in item) or len(item) > 64:
            raise ConfigurationError(f"{name} contains an invalid ID {item!r}")
    # Keep the operator's order (it breaks ties in placement) but drop repeats.
    return tuple(dict.fromkeys(ids))


def id_set(raw: str, name: str) -> frozenset[str]:
    return frozenset(id_list(raw, name))


def name_set(raw: str, name: str) -> frozenset[str]:
    """Names separated by commas (instance families or types), in lower case."""
    return frozenset(item.lower() for item in id_list(raw, name))
