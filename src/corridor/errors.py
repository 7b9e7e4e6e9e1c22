"""corridor's exceptions: one hierarchy, turned into one clear sentence at the edge.

    CorridorError                  anything corridor reports to a user
    ├── ProjectError               the project file: missing, not a project, locked
    │   └── SchemaVersionError     written by a newer corridor, or a failed migration
    ├── InputError                 a file or argument the user gave us
    │   ├── SourceFormatError      a file that cannot be read at all (where: file, line)
    │   ├── MappingError           a bad mapping file or a missing required column
    │   └── RejectRateExceeded     too many bad rows: the whole file was refused
    └── AnalysisError              an analytic asked for something the data cannot give

The CLI prints ``str(error)`` and exits non-zero; every message is a full sentence that
says what went wrong and where.
"""

from __future__ import annotations


class CorridorError(Exception):
    """Base of every error corridor reports to a user."""

    exit_code = 1


class ProjectError(CorridorError):
    pass


class SchemaVersionError(ProjectError):
    pass


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
