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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import MappingError

_SECTIONS = {"columns", "constants", "timestamps", "csv"}
_TIMESTAMP_KEYS = {"format", "timezone", "date_format"}
_CSV_KEYS = {"delimiter", "encoding", "quotechar"}


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
        mapping = cls(
            columns=_frozen(columns),
            constants=_frozen(constants),
            timestamp_format=ts.get("format"),
            timezone=ts.get("timezone", "UTC"),
            date_format=ts.get("date_format"),
            delimiter=csv.get("delimiter"),
            encoding=csv.get("encoding"),
            quotechar=csv.get("quotechar", '"'),
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
