"""Small helpers shared by tests: run the CLI as a user would, write files."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corridor", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# -- hand-made event logs -------------------------------------------------------------

START = pd.Timestamp("2024-01-01 09:00:00")  # a Monday
TEXT_COLUMNS = ("customer_id", "case_id", "touchpoint", "channel", "outcome",
                "department_id", "attributes")
EVENT_DEFAULTS = {
    "channel": "web", "outcome": "ok", "wait_seconds": np.nan, "duration_seconds": np.nan,
    "cost": np.nan, "department_id": None, "attributes": None,
}


def canonical_events(frame: pd.DataFrame, **defaults) -> pd.DataFrame:
    """Complete a hand-made events frame to the canonical columns: customer_id from
    case_id, the other columns from EVENT_DEFAULTS (or ``defaults``), load 1, and seq
    in row order unless the frame has one. Text columns get pandas' string type."""
    frame = frame.copy()
    if "customer_id" not in frame:
        frame["customer_id"] = frame["case_id"]
    for column, value in {**EVENT_DEFAULTS, **defaults}.items():
        if column not in frame:
            frame[column] = value
    frame["load_id"] = np.int64(1)
    if "seq" not in frame:
        frame["seq"] = np.arange(len(frame), dtype="int64")
    frame["seq"] = frame["seq"].astype("int64")
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype("string")
    return frame


def timed_events(rows, unit: str = "min", seqs=None, start: pd.Timestamp = START) -> pd.DataFrame:
    """Canonical events from (case_id, touchpoint, offset after ``start`` in ``unit``)."""
    frame = pd.DataFrame(rows, columns=["case_id", "touchpoint", "offset"])
    frame["timestamp"] = start + pd.to_timedelta(frame.pop("offset"), unit=unit)
    if seqs is not None:
        frame["seq"] = seqs
    return canonical_events(frame)


# -- a real server --------------------------------------------------------------------


def add_account(project: Path, name: str, password: str, role: str = "admin",
                department: str | None = None) -> None:
    """``corridor user add`` with the password on stdin, as an admin would script it
    (an account that already exists is left as it is)."""
    args = ["user", "add", str(project), name, "--role", role, "--password-stdin"]
    if department:
        args += ["--department", department]
    done = subprocess.run([sys.executable, "-m", "corridor", *args], input=password + "\n",
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and "already a user" not in done.stderr:
        raise RuntimeError(f"corridor user add failed: {done.stderr}")


@contextmanager
def served(project: Path, password: str, user: str = "admin", options: tuple[str, ...] = ()):
    """``corridor serve PROJECT OPTIONS…`` on a free loopback port, as a user starts it,
    with an admin account ``user`` whose password is ``password``; yields its base URL once
    it answers, and stops it afterwards."""
    import os
    import secrets
    import socket
    import time

    import httpx

    add_account(project, user, password)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CORRIDOR_SECRET": secrets.token_urlsafe(40)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corridor", "serve", str(project), "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"corridor serve did not start: {proc.stderr.read()}")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- CDNOW, as the lifetimes package ships it -----------------------------------------

CDNOW_MAPPING = """\
[columns]
customer_id = "customer_id"
timestamp = "date"
amount = "amount"

[timestamps]
format = "%Y%m%d"
"""
CDNOW_COLUMNS = {"CDNOW_sample.txt": ["master_id", "customer_id", "date", "cds", "amount"],
                 "CDNOW_master.txt": ["customer_id", "date", "cds", "amount"]}


def cdnow(name: str) -> pd.DataFrame:
    """A CDNOW file of the installed lifetimes package (whitespace-separated, no header),
    ids and dates kept as text."""
    import pytest

    lifetimes = pytest.importorskip("lifetimes")
    path = Path(lifetimes.__file__).parent / "datasets" / name
    return pd.read_csv(path, sep=r"\s+", header=None, names=CDNOW_COLUMNS[name], dtype=str,
                       skiprows=1 if name == "CDNOW_master.txt" else 0)


def load_cdnow(project: Path, folder: Path, name: str = "CDNOW_sample.txt",
               *options: str) -> subprocess.CompletedProcess:
    """``corridor ingest PROJECT transactions`` of a CSV copy of a CDNOW file, with a
    mapping file, as a user would load it."""
    source = folder / "cdnow.csv"
    cdnow(name).to_csv(source, index=False)
    mapping = write(folder / "cdnow.toml", CDNOW_MAPPING)
    return run_cli("ingest", project, "transactions", source, "--map", mapping, "--quiet",
                   *options)
