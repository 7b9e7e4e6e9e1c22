"""Real event logs from pm4py's source distribution (BPIC 2012, OCEL examples), which is
GPL-licensed data and not committed here. The first test that needs one downloads the
sdist from PyPI (``pip download pm4py==2.5.3 --no-deps --no-binary :all:``) and unpacks
its ``tests/input_data`` into ``~/.cache/corridor/pm4py-2.5.3``; a folder named by
``CORRIDOR_PM4PY_DATA``, or an sdist already unpacked under /tmp, is used instead when
present. A test is skipped only when the download itself fails, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

VERSION = "2.5.3"
CACHE = Path.home() / ".cache" / "corridor" / f"pm4py-{VERSION}" / "input_data"
CANDIDATES = (
    Path(f"/tmp/pm4py-{VERSION}/tests/input_data"),
    Path(f"/tmp/pm4py/pm4py-{VERSION}/tests/input_data"),
    CACHE,
)


def pm4py_input(name: str) -> Path:
    """``name`` (e.g. ``bpic2012.xes.gz`` or ``ocel/example_log.jsonocel``) under
    pm4py's tests/input_data."""
    folders = [Path(os.environ["CORRIDOR_PM4PY_DATA"])] if "CORRIDOR_PM4PY_DATA" in os.environ else []
    for folder in [*folders, *CANDIDATES]:
        if (folder / name).is_file():
            return folder / name
    problem = _download()
    if problem is None and (CACHE / name).is_file():
        return CACHE / name
    pytest.skip(f"pm4py's {name} could not be had: {problem or 'not in the sdist'}.")


def _download() -> str | None:
    """Unpack the sdist's tests/input_data into CACHE; a sentence when that fails."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"pm4py=={VERSION}", "--no-deps",
             "--no-binary", ":all:", "--quiet", "-d", tmp],
            capture_output=True, text=True, timeout=600)
        archives = list(Path(tmp).glob("pm4py-*.tar.gz"))
        if done.returncode != 0 or not archives:
            return f"pip download failed ({done.stderr.strip().splitlines()[-1:]})"
        prefix = f"pm4py-{VERSION}/tests/input_data/"
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=CACHE.parent))  # same filesystem: rename
        with tarfile.open(archives[0]) as archive:
            members = [m for m in archive.getmembers()
                       if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
            archive.extractall(staging, members=members, filter="data")
        if not CACHE.exists():  # another test process may have won the race
            (staging / prefix).rename(CACHE)
    return None
