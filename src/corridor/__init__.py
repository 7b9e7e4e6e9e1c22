"""corridor: customer culture made measurable."""

__version__ = "0.1.0"
