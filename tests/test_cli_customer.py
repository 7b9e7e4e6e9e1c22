"""`corridor customer export|erase` as a user runs them: JSON out, counts printed, one
sentence for a bad id, and no erasure without a confirmation."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys

import pytest

def corridor(*args, stdin: str = "") -> subprocess.CompletedProcess:
    """The command run as a user runs it, with ``stdin`` (never a terminal) as input."""
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(web_demo, tmp_path):
    target = tmp_path / "company.duckdb"
    shutil.copy(web_demo, target)
    return target


def _someone(project) -> str:
    from corridor.store import Project

    with Project.open(project, read_only=True) as p:
        return p.con.execute("SELECT customer_id FROM feedback WHERE text IS NOT NULL"
                             " ORDER BY customer_id LIMIT 1").fetchone()[0]


def test_export_writes_their_data_as_json_to_stdout_or_a_private_file_and_is_audited(project, tmp_path):
    who = _someone(project)
    shown = corridor("customer", "export", project, who)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["customer_id"] == who and data["events"] and data["feedback"]
    out = tmp_path / "export.json"
    written = corridor("customer", "export", project, who, "--out", out)
    assert written.returncode == 0, written.stderr
    again = json.loads(out.read_text(encoding="utf-8"))["counts"]
    assert again == {**data["counts"], "audit": data["counts"]["audit"] + 1}  # the 1st export
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert str(out) in written.stderr and written.stdout == ""


def test_an_unknown_id_is_one_sentence_and_a_non_zero_exit(project):
    for command in ("export", "erase"):
        yes = ["--yes"] if command == "erase" else []
        done = corridor("customer", command, project, "NOBODY-42", *yes)
        assert done.returncode != 0
        assert done.stderr.count("\n") == 1 and "NOBODY-42" in done.stderr
        assert "Traceback" not in done.stderr


def test_erase_refuses_without_yes_when_nobody_can_confirm(project):
    who = _someone(project)
    refused = corridor("customer", "erase", project, who, stdin="y\n")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr and refused.stderr.count("\n") == 1
    assert corridor("customer", "export", project, who).returncode == 0  # still there


def test_erase_with_yes_prints_the_counts_and_the_customer_is_gone(project):
    who = _someone(project)
    exported = json.loads(corridor("customer", "export", project, who).stdout)
    erased = corridor("customer", "erase", project, who, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert f"events: {exported['counts']['events']:,}" in erased.stdout
    assert f"feedback: {exported['counts']['feedback']:,}" in erased.stdout
    assert corridor("customer", "export", project, who).returncode != 0
    assert who.encode() not in project.read_bytes()


def test_erase_json_gives_the_counts_per_table(project):
    who = _someone(project)
    done = corridor("customer", "erase", project, who, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["customer_id"] == who and counts["customers"] == 1 and counts["events"] > 0
