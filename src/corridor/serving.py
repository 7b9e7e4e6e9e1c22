"""Loading files while the web app serves a project.

DuckDB lets one process write a file. While ``corridor serve`` runs, it is that process:
it writes a *serving file* beside the project (``<project>.serving``, readable by its
owner only) with its address and a token made for this run, and ``corridor ingest``
hands each file to it (``POST /api/v1/loads``) instead of opening the project. The
server loads it in one transaction while pages keep reading the last commit, so nobody
waits for the file and nothing is locked out. When the server stops, the serving file
goes with it; one left by a killed server is recognised (its process is gone) and
ignored.

An uploaded file is copied into ``<project>.uploads/`` while it loads and removed when
the load ends. A server killed in the middle leaves its copy behind: the next server
start removes every leftover (:func:`clear_uploads`), and so does ``corridor customer
erase`` when no server runs (the copies hold customers' data).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib import error, request

from .errors import CorridorError, DiskFull, InputError, ProjectError

CHUNK = 1 << 20  # bytes sent at a time


@dataclass(frozen=True)
class Serving:
    """A running server of a project, as its serving file tells."""

    pid: int
    url: str  # e.g. http://127.0.0.1:8000
    token: str  # the run's own token: loads from the command line


def serving_path(project: Path) -> Path:
    return Path(f"{project}.serving")


def announce(project: Path, url: str) -> Serving:
    """Write the serving file of this process (owner-only, written whole)."""
    serving = Serving(os.getpid(), url.rstrip("/"), "crd_run_" + secrets.token_urlsafe(32))
    path = serving_path(project)
    temporary = path.with_name(path.name + f".{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        json.dump({"pid": serving.pid, "url": serving.url, "token": serving.token}, f)
    os.replace(temporary, path)
    return serving


def withdraw(project: Path, serving: Serving) -> None:
    """Remove the serving file, if it is still this server's."""
    if find(project, alive_only=False) == serving:
        serving_path(project).unlink(missing_ok=True)


def uploads_path(project: Path) -> Path:
    """The folder where the server keeps each uploaded file while it loads."""
    return Path(f"{project}.uploads")


def uploads_left(project: Path) -> list[Path]:
    """The files in the project's uploads folder (none when it does not exist)."""
    folder = uploads_path(project)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


def clear_uploads(project: Path) -> int:
    """Remove the project's uploads folder with whatever a killed server left in it; the
    number of files removed. Call it only when no server loads into the project."""
    folder = uploads_path(project)
    left = len(uploads_left(project))
    if folder.is_dir():
        shutil.rmtree(folder)
    elif folder.exists():  # pragma: no cover - a file where the folder belongs
        folder.unlink()
    return left


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def find(project: Path, alive_only: bool = True) -> Serving | None:
    """The server running on ``project``, or None (no serving file, or its process has
    ended)."""
    try:
        data = json.loads(serving_path(project).read_text("utf-8"))
        found = Serving(int(data["pid"]), str(data["url"]), str(data["token"]))
    except FileNotFoundError:
        return None
    except PermissionError:
        raise ProjectError(f"{project} is being served by another user; load through the"
                           " API with a token (corridor token create).") from None
    except (ValueError, KeyError, TypeError):
        return None  # a damaged file: no server can be reached through it
    if alive_only and not _alive(found.pid):
        return None
    return found


def _framing(file_name: str, fields: dict[str, str], boundary: str) -> tuple[bytes, bytes]:
    """What a multipart/form-data body holds before and after the file's bytes."""
    head = "".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        for name, value in fields.items())
    head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\";"
             f" filename=\"{file_name.replace(chr(34), '%22')}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    return head.encode("utf-8"), f"\r\n--{boundary}--\r\n".encode()


def _streamed(head: bytes, path: Path, tail: bytes):
    yield head
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    yield tail


def upload(serving: Serving, kind: str, path: Path, *, mapping: str | None = None,
           max_reject_rate: float = 1.0, replace: bool = False) -> dict:
    """Hand ``path`` to the server to load as ``kind``; its answer (the load's counts)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file.")
    boundary = "corridor" + secrets.token_hex(16)
    fields = {"kind": kind, "max_reject_rate": repr(max_reject_rate),
              "replace": "true" if replace else "false"}
    if mapping is not None:
        fields["mapping"] = mapping
    head, tail = _framing(path.name, fields, boundary)
    size = len(head) + path.stat().st_size + len(tail)
    body = _streamed(head, path, tail)
    call = request.Request(
        f"{serving.url}/api/v1/loads", data=body, method="POST",
        headers={"Authorization": f"Bearer {serving.token}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Content-Length": str(size)})
    try:
        with request.urlopen(call, timeout=None) as answer:
            return json.loads(answer.read())
    except error.HTTPError as refused:
        try:
            detail = json.loads(refused.read()).get("detail")
        except ValueError:
            detail = None
        message = detail if isinstance(detail, str) else f"HTTP {refused.code}"
        if refused.code < 500:
            raise InputError(message) from None
        if refused.code == 507:  # the server's disk is full: its sentence says where
            raise DiskFull(message) from None
        raise CorridorError(f"The server at {serving.url} could not load {path.name}:"
                            f" {message}") from None
    except OSError as unreachable:
        raise ProjectError(f"{serving.url} serves this project but did not answer"
                           f" ({unreachable}); try again, or stop the server.") from None
