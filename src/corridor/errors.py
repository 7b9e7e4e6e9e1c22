"""corridor's exceptions: one hierarchy, turned into one clear sentence at the edge.

    CorridorError                  anything corridor reports to a user
    ├── ProjectError               the project file: missing, not a project, locked
    │   ├── SchemaVersionError     written by a newer corridor, or a failed migration
    │   └── DiskFull               no space left where the project (or its spill files) lives
    ├── InputError                 a file or argument the user gave us
    │   ├── SourceFormatError      a file that cannot be read at all (where: file, line)
    │   ├── MappingError           a bad mapping file or a missing required column
    │   └── RejectRateExceeded     too many bad rows: the whole file was refused
    └── AnalysisError              an analytic asked for something the data cannot give

The CLI prints ``str(error)`` and exits with the error's ``exit_code`` (1 for project
problems, 2 for bad input, 3 for too many bad rows); every message is a full sentence
that says what went wrong and where. Anything else that reaches the CLI is one sentence
with exit 1 as well (see ``corridor.cli.main``).
"""

from __future__ import annotations

import re


class CorridorError(Exception):
    """Base of every error corridor reports to a user."""

    exit_code = 1


class ProjectError(CorridorError):
    pass


class SchemaVersionError(ProjectError):
    pass


class DiskFull(ProjectError):
    """A write found no space left on the device (the project, its write-ahead log, its
    spill folder or a copy being written); ``folder`` is where space is needed."""

    def __init__(self, message: str, folder: str | None = None):
        super().__init__(message)
        self.folder = folder


class InputError(CorridorError):
    exit_code = 2


class SourceFormatError(InputError):
    pass


class MappingError(InputError):
    pass


class RejectRateExceeded(InputError):
    exit_code = 3


class AnalysisError(CorridorError):
    pass


# Characters that must never reach a terminal raw from a user's file: C0 and C1 controls
# (escape sequences start with ESC or CSI), bidirectional overrides, invisible spaces and
# byte-order marks, and the lone surrogates that stand for undecodable bytes.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e"
                          "\u2060\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by 'surrogateescape'
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters, bidirectional overrides and undecodable bytes
    written as escapes (ESC as ``\\x1b``), safe to show on a terminal or in a log."""
    return _UNPRINTABLE.sub(_escape, text)
