"""Mapping files: how a user's columns become canonical columns.

A mapping is a small TOML file::

    [columns]                 # canonical name = column in the file
    customer_id = "Client"
    timestamp = "Visited at"

    [constants]               # canonical columns with one value for the whole file
    channel = "web"

    [timestamps]
    format = "%d/%m/%Y %H:%M" # strptime format; omit for ISO 8601 (offsets honoured)
    timezone = "Europe/Moscow"  # zone of times written without an offset; default UTC
    date_format = "%d.%m.%Y"  # for date columns such as customers.since

    [csv]
    delimiter = ";"           # detected when omitted
    encoding = "cp1251"       # detected when omitted

    [values.outcome]          # the file's words for a column's values
    "успешно" = "ok"
    "ошибка" = "failed"

    [numbers]                 # numbers as people write them
    decimal = ","             # "." by default
    thousands = " "           # also non-breaking and thin spaces, "'", "." or ","

    [duplicates]              # what makes two rows the same record
    key = ["Order No"]        # columns of the file (or canonical names)
    # keep = true             # keep exact duplicates of events and feedback

    [ocel]                    # OCEL 2.0 logs: which object types are whose
    customer = "customer"
    case = "order"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import MappingError

_SECTIONS = {"columns", "constants", "timestamps", "csv", "values", "numbers", "duplicates",
             "ocel"}
_OCEL_KEYS = {"customer", "case"}
_TIMESTAMP_KEYS = {"format", "timezone", "date_format"}
_CSV_KEYS = {"delimiter", "encoding", "quotechar"}
_NUMBER_KEYS = {"decimal", "thousands"}
_DUPLICATE_KEYS = {"key", "keep"}
DECIMAL_MARKS = (".", ",")
# Spaces people group digits with: plain, non-breaking, narrow non-breaking and thin.
SPACES = (" ", "\u00a0", "\u202f", "\u2009")
THOUSANDS_MARKS = SPACES + ("'", ".", ",")


def _frozen(d: dict[str, str]) -> MappingProxyType:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Mapping:
    columns: MappingProxyType = field(default_factory=lambda: _frozen({}))
    constants: MappingProxyType = field(default_factory=lambda: _frozen({}))
    timestamp_format: str | None = None
    timezone: str = "UTC"
    date_format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    quotechar: str = '"'
    ocel_customer: str | None = None  # [ocel] customer: the object type that is the customer
    ocel_case: str | None = None  # [ocel] case: the object type whose journeys to follow
    values: MappingProxyType = field(default_factory=lambda: _frozen({}))
    decimal: str = "."
    thousands: str | None = None
    duplicate_key: tuple[str, ...] = ()
    keep_duplicates: bool = False

    @property
    def numbers_declared(self) -> bool:
        """True when the file writes numbers other than as plain ``1234.5``."""
        return self.decimal != "." or self.thousands is not None

    @classmethod
    def from_toml(cls, path: str | Path) -> "Mapping":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MappingError(f"Mapping file {path} does not exist.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"Mapping file {path} is not valid TOML: {exc}.") from exc
        except UnicodeDecodeError as exc:
            raise MappingError(f"Mapping file {path} is not UTF-8 text.") from exc
        unknown = set(data) - _SECTIONS
        if unknown:
            raise MappingError(
                f"Mapping file {path} has an unknown section [{sorted(unknown)[0]}];"
                f" expected {', '.join(sorted(_SECTIONS))}."
            )
        columns = _strings(path, data, "columns")
        constants = _strings(path, data, "constants")
        ts = _strings(path, data, "timestamps", allowed=_TIMESTAMP_KEYS)
        csv = _strings(path, data, "csv", allowed=_CSV_KEYS)
        ocel = _strings(path, data, "ocel", allowed=_OCEL_KEYS)
        numbers = _strings(path, data, "numbers", allowed=_NUMBER_KEYS)
        values = _value_tables(path, data)
        key, keep = _duplicates(path, data)
        mapping = cls(
            columns=_frozen(columns),
            constants=_frozen(constants),
            timestamp_format=ts.get("format"),
            timezone=ts.get("timezone", "UTC"),
            date_format=ts.get("date_format"),
            delimiter=csv.get("delimiter"),
            encoding=csv.get("encoding"),
            quotechar=csv.get("quotechar", '"'),
            ocel_customer=ocel.get("customer"),
            ocel_case=ocel.get("case"),
            values=_frozen({c: _frozen(v) for c, v in values.items()}),
            decimal=numbers.get("decimal", "."),
            thousands=numbers.get("thousands"),
            duplicate_key=key,
            keep_duplicates=keep,
        )
        mapping.check(str(path))
        return mapping

    def check(self, where: str = "the mapping") -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise MappingError(
                f"{where}: unknown time zone '{self.timezone}' (use an IANA name such"
                " as 'Europe/Moscow')."
            ) from exc
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise MappingError(f"{where}: the CSV delimiter must be one character.")
        if self.decimal not in DECIMAL_MARKS:
            raise MappingError(
                f"{where}: [numbers] decimal must be \".\" or \",\", got {self.decimal!r}."
            )
        if self.thousands is not None:
            if self.thousands not in THOUSANDS_MARKS:
                raise MappingError(
                    f"{where}: [numbers] thousands must be one of"
                    f" {', '.join(map(repr, THOUSANDS_MARKS))}, got {self.thousands!r}."
                )
            if self.thousands == self.decimal:
                raise MappingError(
                    f"{where}: [numbers] thousands and decimal are both {self.decimal!r};"
                    " they must differ."
                )
        if self.duplicate_key and self.keep_duplicates:
            raise MappingError(
                f"{where}: [duplicates] declares a key and keep = true; choose one."
            )


def _strings(path: Path, data: dict, section: str, allowed: set[str] | None = None):
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise MappingError(f"Mapping file {path}: [{section}] must be a table.")
    for key, value in table.items():
        if allowed is not None and key not in allowed:
            raise MappingError(
                f"Mapping file {path}: unknown key '{key}' in [{section}]; expected"
                f" {', '.join(sorted(allowed))}."
            )
        if not isinstance(value, str):
            raise MappingError(
                f"Mapping file {path}: [{section}] {key} must be a string, got"
                f" {type(value).__name__}."
            )
    return dict(table)


def _value_tables(path: Path, data: dict) -> dict[str, dict[str, str]]:
    """[values.<column>] tables: the file's word -> the canonical value. Words are
    matched whatever their case, so two words differing only in case must agree."""
    tables = data.get("values", {})
    if not isinstance(tables, dict):
        raise MappingError(f"Mapping file {path}: [values] must hold tables such as"
                           " [values.outcome].")
    out: dict[str, dict[str, str]] = {}
    for column, table in tables.items():
        if not isinstance(table, dict):
            raise MappingError(
                f"Mapping file {path}: [values.{column}] must be a table of"
                " \"file value\" = \"canonical value\"."
            )
        words = _strings(path, {f"values.{column}": table}, f"values.{column}")
        seen: dict[str, tuple[str, str]] = {}
        for word, value in words.items():
            folded = word.strip().casefold()
            if folded in seen and seen[folded][1] != value:
                raise MappingError(
                    f"Mapping file {path}: [values.{column}] maps {seen[folded][0]!r} and"
                    f" {word!r}, which differ only in case, to different values."
                )
            seen[folded] = (word, value)
        out[column] = words
    return out


def _duplicates(path: Path, data: dict) -> tuple[tuple[str, ...], bool]:
    table = data.get("duplicates", {})
    if not isinstance(table, dict):
        raise MappingError(f"Mapping file {path}: [duplicates] must be a table.")
    unknown = set(table) - _DUPLICATE_KEYS
    if unknown:
        raise MappingError(
            f"Mapping file {path}: unknown key '{sorted(unknown)[0]}' in [duplicates];"
            f" expected {', '.join(sorted(_DUPLICATE_KEYS))}."
        )
    key = table.get("key", [])
    if isinstance(key, str):
        key = [key]
    if not isinstance(key, list) or not all(isinstance(k, str) and k for k in key):
        raise MappingError(
            f"Mapping file {path}: [duplicates] key must be a column name or a list of"
            " column names."
        )
    keep = table.get("keep", False)
    if not isinstance(keep, bool):
        raise MappingError(f"Mapping file {path}: [duplicates] keep must be true or false.")
    return tuple(key), keep
