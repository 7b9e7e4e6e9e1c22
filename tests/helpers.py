"""Small helpers shared by tests: run the CLI as a user would, write files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corridor", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
