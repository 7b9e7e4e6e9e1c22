"""Feed `corridor ingest` hostile files and check that each one ends well.

    .venv/bin/python bench/fuzz_ingest.py                  # every case but the big ones
    .venv/bin/python bench/fuzz_ingest.py --big            # and the multi-GB streaming loads
    .venv/bin/python bench/fuzz_ingest.py -k gz -k xes     # only cases whose name holds a word
    .venv/bin/python bench/fuzz_ingest.py --keep DIR       # keep the files (and the projects)

Writes each hostile file into a temporary folder, then runs ``corridor ingest PROJECT
KIND FILE --json --quiet`` on it in a subprocess (a fresh copy of a project made by
``corridor init --no-pseudonymise``), with a time limit and a memory ceiling (the run is
killed above either), and sorts the outcome:

- load         exit 0, and the JSON counts hold read == accepted + rejected;
- clean error  exit 2 (or 3), one line on stderr, starting "Error:";
- hang         killed at the time limit;
- blow-up      killed at the memory ceiling;
- bad          anything else: another exit code, several lines, a traceback, counts
               that do not add up, or raw control characters on stdout or stderr.

Each case also says what it expects (a load, an error, or either), and a case whose
outcome differs is listed. Peak memory is the child's maximum resident set size from
``wait4``. Prints one line per case and a summary; exits 1 when any case was bad, hung,
blew up or missed its expectation. Not a test: the suite has lean versions of these.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

HEADER = "customer_id,touchpoint,timestamp"
ROW = "c1,visit,2024-01-01T10:00:00"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # everything but the line feed
MB = 1 << 20


@dataclass
class Case:
    name: str
    kind: str
    filename: str
    write: Callable[[Path], None]
    expect: str  # "load", "error" or "either"
    big: bool = False


@dataclass
class Outcome:
    case: Case
    verdict: str = ""
    code: int | None = None
    seconds: float = 0.0
    peak_mb: float = 0.0
    stdout: str = ""
    stderr: str = ""
    notes: list[str] = field(default_factory=list)
    counts: dict | None = None


# -- writing hostile files -----------------------------------------------------------------


def text(data: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data.encode(encoding))


def raw(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def repeated(head: bytes, body: bytes, count: int, *, compress: bool = False,
             tail: bytes = b"") -> Callable[[Path], None]:
    """``head`` + ``body`` * count + ``tail``, written in slices (gzip when asked)."""

    def write(path: Path) -> None:
        out = gzip.open(path, "wb", compresslevel=6) if compress else open(path, "wb")
        with out:
            out.write(head)
            per = max(1, (8 * MB) // max(1, len(body)))
            block = body * per
            left = count
            while left >= per:
                out.write(block)
                left -= per
            out.write(body * left)
            out.write(tail)

    return write


def csv_rows(rows: list[str], header: str = HEADER) -> Callable[[Path], None]:
    return text("\n".join([header, *rows]) + "\n")


def wide_csv(columns: int, rows: int) -> Callable[[Path], None]:
    names = [*HEADER.split(","), *(f"extra{i}" for i in range(columns - 3))]
    values = [*ROW.split(","), *("1" for _ in range(columns - 3))]

    def write(path: Path) -> None:
        with open(path, "w") as f:
            f.write(",".join(names) + "\n")
            for i in range(rows):
                values[0] = f"c{i}"
                f.write(",".join(values) + "\n")

    return write


def jsonl(objects) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "w") as f:
            for obj in objects():
                f.write(obj if isinstance(obj, str) else json.dumps(obj))
                f.write("\n")

    return write


def event(i: int = 1, **extra) -> dict:
    return {"customer_id": f"c{i}", "touchpoint": "visit",
            "timestamp": "2024-01-01T10:00:00", **extra}


def xes(body: str, prolog: str = "") -> Callable[[Path], None]:
    return text(f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
                f'<log xes.version="1.0">\n{body}</log>\n')


def xes_around(trace: str, filler: bytes, count: int) -> Callable[[Path], None]:
    """An XES log of one trace with ``filler * count`` where ``trace`` has an @."""
    before, after = trace.split("@")
    return repeated(f'<?xml version="1.0"?>\n<log>\n{before}'.encode(), filler, count,
                    tail=f"{after}</log>\n".encode())


XES_EVENT = ('<event><string key="concept:name" value="visit"/>'
             '<date key="time:timestamp" value="2024-01-01T10:00:00.000+00:00"/></event>\n')
XES_TRACE = f'<trace><string key="concept:name" value="c1"/>\n{XES_EVENT}</trace>\n'


def xes_wide_event(attributes: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "w") as f:
            f.write('<?xml version="1.0"?>\n<log><trace><string key="concept:name" value="c1"/>'
                    '<event><string key="concept:name" value="visit"/>'
                    '<date key="time:timestamp" value="2024-01-01T10:00:00"/>\n')
            for i in range(attributes):
                f.write(f'<string key="a{i}" value="v"/>\n')
            f.write("</event></trace></log>\n")

    return write


def xes_new_trace_keys(traces: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "w") as f:
            f.write('<?xml version="1.0"?>\n<log>\n')
            for i in range(traces):
                f.write(f'<trace><string key="concept:name" value="c{i}"/>'
                        f'<string key="k{i}" value="v"/>{XES_EVENT}</trace>\n')
            f.write("</log>\n")

    return write


def gzip_of(write_plain: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        plain = path.with_name(path.name + ".plain")
        write_plain(plain)
        with open(plain, "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 * MB)
        plain.unlink()

    return write


def truncated_gzip(data: bytes) -> Callable[[Path], None]:
    packed = gzip.compress(data)
    return raw(packed[: len(packed) // 2])


def parquet(make_table: Callable[[], object], **options) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(make_table(), path, **options)

    return write


def parquet_wide(columns: int) -> Callable[[Path], None]:
    def make():
        import pyarrow as pa

        data = {"customer_id": ["c1"], "touchpoint": ["visit"], "timestamp": ["2024-01-01"]}
        data.update({f"x{i}": [i] for i in range(columns)})
        return pa.table(data)

    return parquet(make)


def parquet_nested():
    import pyarrow as pa

    n = 1000
    return pa.table({
        "customer_id": [f"c{i}" for i in range(n)],
        "touchpoint": ["visit"] * n,
        "timestamp": pa.array([1_700_000_000_000] * n, pa.timestamp("ms", tz="UTC")),
        "blob": pa.array([bytes([i % 256]) * 10 + b"\xff\x00" for i in range(n)], pa.binary()),
        "tags": pa.array([[f"t{i}", None] for i in range(n)], pa.list_(pa.string())),
        "meta": pa.array([{"a": i, "b": "\x1b[31m"} for i in range(n)]),
        "pairs": pa.array([[("k", i)] for i in range(n)], pa.map_(pa.string(), pa.int64())),
        "cat": pa.array(["x", "y"] * (n // 2)).dictionary_encode(),
        "dec": pa.array([i for i in range(n)], pa.decimal128(38, 2)),
        "f16": pa.array([None] * n, pa.null()),
    })


def parquet_big_cell():
    import pyarrow as pa

    return pa.table({"customer_id": ["c1", "c2"], "touchpoint": ["visit", "visit"],
                     "timestamp": ["2024-01-01", "2024-01-02"],
                     "note": ["x" * (100 * MB), "short"]})


def parquet_identical(rows: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunk = 1_000_000
        table = pa.table({"customer_id": ["c1"] * chunk, "touchpoint": ["visit"] * chunk,
                          "timestamp": ["2024-01-01T10:00:00"] * chunk})
        with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
            for _ in range(rows // chunk):
                writer.write_table(table)

    return write


def billion_laughs() -> str:
    entities = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = f"&lol{i - 1};" if i > 1 else "&lol;"
        entities.append(f'<!ENTITY lol{i} "{prev * 10}">')
    return "<!DOCTYPE log [\n" + "\n".join(entities) + "\n]>\n"


def cases() -> list[Case]:
    esc = "\x1b[31mRED\x1b[0m"
    osc = "\x1b]0;pwned\x07"
    rnd = random.Random(15)
    garbage = rnd.randbytes(2 * MB)
    identical = (ROW + "\n").encode()
    return [
        # -- CSV: shape ----------------------------------------------------------------
        Case("csv-200k-columns", "events", "wide.csv", wide_csv(200_000, 3), "error"),
        Case("csv-900-columns", "events", "wide900.csv", wide_csv(900, 5000), "load"),
        Case("csv-row-with-200k-fields", "events", "long_row.csv",
             csv_rows([ROW, ",".join(["x"] * 200_000), ROW.replace("c1", "c2")]), "load"),
        Case("csv-zero-bytes", "events", "empty.csv", raw(b""), "error"),
        Case("csv-only-newlines", "events", "newlines.csv", repeated(b"", b"\n", 5_000_000),
             "error"),
        Case("csv-header-only", "events", "header.csv", text(HEADER + "\n"), "load"),
        Case("csv-duplicate-header", "events", "dup.csv",
             csv_rows([ROW + ",1"], HEADER + ",touchpoint"), "error"),
        Case("csv-empty-header-name", "events", "noname.csv", csv_rows([ROW + ",1"], HEADER + ","),
             "error"),
        Case("csv-binary-garbage", "events", "garbage.csv", raw(garbage), "error"),
        Case("csv-header-then-garbage", "events", "halfgarbage.csv",
             raw((HEADER + "\n").encode() + garbage), "either"),  # all rejected: exit 3
        Case("csv-lone-cr-line-ends", "events", "cr.csv",
             raw(("\r".join([HEADER] + [ROW.replace("c1", f"c{i}") for i in range(1000)])).encode()),
             "load"),
        Case("csv-many-bad-rows", "events", "badrows.csv",
             repeated((HEADER + "\n").encode(), b"a,b\n", 2_000_000), "either"),
        # -- CSV: sizes -----------------------------------------------------------------
        Case("csv-huge-field-60MB", "feedback", "bigfield.csv",
             repeated(b"customer_id,timestamp,metric,score,text\nc1,2024-01-01,nps,9,", b"x",
                      60 * MB, tail=b"\nc2,2024-01-01,nps,3,ok\n"), "load"),
        Case("csv-field-over-limit-80MB", "feedback", "toobig.csv",
             repeated(b"customer_id,timestamp,metric,score,text\nc1,2024-01-01,nps,9,", b"x",
                      80 * MB, tail=b"\nc2,2024-01-01,nps,3,ok\n"), "load"),
        Case("csv-unclosed-quote-100MB", "events", "openquote.csv",
             repeated((HEADER + "\n" + ROW + '\nc2,"visit').encode(), b"yyyyyyyy\n",
                      12 * MB), "load"),
        Case("csv-huge-header-no-newline", "events", "hugeheader.csv",
             repeated(b"customer_id,", b"x", 100 * MB), "error"),
        Case("csv-huge-line-no-newline", "events", "hugeline.csv",
             repeated((HEADER + "\n" + ROW + "\n").encode(), b"y", 100 * MB), "load"),
        Case("csv-gz-17M-identical-rows", "events", "bomb.csv.gz",
             repeated((HEADER + "\n").encode(), identical, 17_000_000, compress=True), "either"),
        Case("csv-gz-truncated", "events", "cut.csv.gz",
             truncated_gzip(((HEADER + "\n") + (ROW + "\n") * 50_000).encode()), "error"),
        Case("csv-gz-trailing-garbage", "events", "trail.csv.gz",
             raw(gzip.compress(((HEADER + "\n") + ROW + "\n").encode()) + b"garbage!"), "either"),
        Case("csv-gz-header-garbage", "events", "fakegz.csv.gz", raw(b"\x1f\x8b" + garbage[:1000]),
             "error"),
        # -- CSV: text ------------------------------------------------------------------
        Case("csv-nul-bytes", "events", "nul.csv",
             raw((HEADER + "\nc1,vi\x00sit,2024-01-01\nc2,visit,2024-01-01\n\x00\x00\x00\n").encode()),
             "load"),
        Case("csv-nul-in-header", "events", "nulheader.csv",
             raw(("customer\x00_id,touchpoint,timestamp\n" + ROW + "\n").encode()), "error"),
        Case("csv-utf8-bom", "events", "bom8.csv", raw(b"\xef\xbb\xbf" + (HEADER + "\n" + ROW + "\n").encode()),
             "load"),
        Case("csv-utf16-bom", "events", "bom16.csv", text(HEADER + "\n" + ROW + "\n", "utf-16"),
             "load"),
        Case("csv-utf32-bom", "events", "bom32.csv", text(HEADER + "\n" + ROW + "\n", "utf-32"),
             "load"),
        Case("csv-double-bom", "events", "bombom.csv",
             raw(b"\xef\xbb\xbf\xef\xbb\xbf" + (HEADER + "\n" + ROW + "\n").encode()), "either"),
        Case("csv-mixed-encodings", "events", "mixed.csv",
             raw((HEADER + "\n").encode() + b"".join(
                 [f"c{i},{word},2024-01-01\n".encode(enc) for i, (word, enc) in enumerate(
                     [("Оплата", "utf-8"), ("Оплата", "cp1251"), ("Оплата", "koi8-r"),
                      ("café", "latin-1"), ("دفع", "cp1256"), ("دفع", "utf-8")] * 300)])),
             "load"),
        Case("csv-invalid-utf8-rows", "events", "badutf8.csv",
             raw((HEADER + "\n").encode() + b"".join(
                 (f"c{i},Оплата,2024-01-01\n".encode() if i % 50 else
                  b"c,\xff\xfe,2024-01-01,extra\n" if i % 100 else b"c,\xed\xa0\x80,x\n")
                 for i in range(5000))), "load"),
        Case("csv-escapes-in-header", "events", "escheader.csv",
             csv_rows([ROW], f"who{esc},what{osc},when\u202e"), "error"),
        Case("csv-escapes-in-values", "events", "escvalues.csv",
             csv_rows([f"c1{esc},visit{osc},2024-01-01", f"c2,v,not a date{esc}"]), "load"),
        Case("csv-escapes-in-file-name", "events", f"evil{osc}{esc}.csv", csv_rows([ROW]), "load"),
        Case("csv-invalid-utf8-file-name", "events", "bad\udcffname.csv", csv_rows([ROW]), "error"),
        Case("csv-escape-file-name-error", "events", f"evil{esc}.csv", raw(b""), "error"),
        # -- JSON Lines -----------------------------------------------------------------
        Case("jsonl-new-key-every-line", "events", "newkeys.jsonl",
             jsonl(lambda: (event(i, **{f"k{i}": i}) for i in range(200_000))), "error"),
        Case("jsonl-100k-keys-one-line", "events", "wideline.jsonl",
             jsonl(lambda: [event(1, **{f"k{i}": i for i in range(100_000)}), event(2)]), "error"),
        Case("jsonl-900-keys", "events", "keys900.jsonl",
             jsonl(lambda: (event(i, **{f"k{j}": j for j in range(900)}) for i in range(2000))),
             "load"),
        Case("jsonl-deep-nesting", "events", "deep.jsonl",
             jsonl(lambda: [event(1), '{"customer_id":"c2","x":' + "[" * 200_000 + "]" * 200_000
                            + "}", event(3)]), "load"),
        Case("jsonl-huge-numbers", "events", "numbers.jsonl",
             jsonl(lambda: [event(1), '{"customer_id":"c2","n":' + "9" * 100_000 + "}",
                            '{"customer_id":"c3","n":1e999999}', '{"customer_id":"c4","n":NaN}',
                            event(5)]), "load"),
        Case("jsonl-lone-surrogates", "events", "surrogates.jsonl",
             jsonl(lambda: [event(1), '{"customer_id":"c2\\ud800","touchpoint":"v",'
                            '"timestamp":"2024-01-01"}', '{"\\udfff":1,"customer_id":"c3"}',
                            event(4)]), "load"),
        Case("jsonl-nul", "events", "nul.jsonl",
             raw(b'{"customer_id":"c1\\u0000x","touchpoint":"v","timestamp":"2024-01-01"}\n'
                 b'{"customer_id":"c2",\x00"touchpoint":"v"}\n' + json.dumps(event(3)).encode()
                 + b"\n"), "load"),
        Case("jsonl-invalid-utf8", "events", "badutf8.jsonl",
             raw(json.dumps(event(1)).encode() + b'\n{"customer_id":"\xff\xfe"}\n'), "load"),
        Case("jsonl-utf16", "events", "utf16.jsonl", text(json.dumps(event(1)) + "\n", "utf-16"),
             "load"),
        Case("jsonl-not-objects", "events", "values.jsonl",
             text('[1,2]\n"text"\nnull\n' + json.dumps(event(1)) + "\n"), "load"),
        Case("jsonl-json-array", "events", "array.json", text(json.dumps([event(1)])), "error"),
        Case("jsonl-huge-line-no-newline", "events", "hugeline.jsonl",
             repeated((json.dumps(event(1)) + '\n{"customer_id":"').encode(), b"x", 100 * MB),
             "load"),
        Case("jsonl-escape-keys", "events", "esckeys.jsonl",
             jsonl(lambda: [{f"who{esc}": "c1", f"what{osc}": "v"}]), "error"),
        Case("jsonl-gz-identical-lines", "events", "bomb.jsonl.gz",
             repeated(b"", (json.dumps(event(1)) + "\n").encode(), 10_000_000, compress=True),
             "either"),
        Case("jsonl-zero-bytes", "events", "empty.jsonl", raw(b""), "error"),
        # -- XES ------------------------------------------------------------------------
        Case("xes-200k-attributes-one-event", "events", "wide.xes", xes_wide_event(200_000), "error"),
        Case("xes-new-trace-key-every-trace", "events", "newkeys.xes", xes_new_trace_keys(100_000),
             "error"),
        Case("xes-billion-laughs", "events", "laughs.xes",
             xes(XES_TRACE.replace('value="c1"', 'value="&lol9;"'), billion_laughs()), "either"),
        Case("xes-external-entity", "events", "xxe.xes",
             xes(XES_TRACE.replace('value="c1"', 'value="&xxe;"'),
                 '<!DOCTYPE log [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'), "either"),
        Case("xes-external-dtd", "events", "dtd.xes",
             xes(XES_TRACE, '<!DOCTYPE log SYSTEM "http://192.0.2.1/x.dtd">\n'), "either"),
        Case("xes-deep-nesting", "events", "deep.xes",
             xes('<trace><string key="concept:name" value="c1"/><event>'
                 '<string key="concept:name" value="v"/><list key="x">'
                 + '<list key="y">' * 100_000 + "</list>" * 100_000
                 + "</list></event></trace>\n"), "error"),
        Case("xes-huge-attribute-value", "events", "hugevalue.xes",
             xes_around(XES_TRACE.replace('value="visit"', 'value="@"'), b"x", 50 * MB), "either"),
        Case("xes-huge-text-node", "events", "hugetext.xes",
             xes_around(XES_TRACE.replace("<event>", "<event>@"), b"t", 200 * MB), "either"),
        Case("xes-truncated", "events", "cut.xes",
             raw(('<?xml version="1.0"?>\n<log>' + XES_TRACE * 1000).encode()[:-5000]), "error"),
        Case("xes-binary-garbage", "events", "garbage.xes", raw(garbage), "error"),
        Case("xes-zero-bytes", "events", "empty.xes", raw(b""), "error"),
        Case("xes-not-a-log", "events", "html.xes", text("<html><body>hi</body></html>"), "error"),
        Case("xes-escapes-in-values", "events", "esc.xes",
             xes(XES_TRACE.replace('value="c1"', 'value="c1&#27;[31m"')), "either"),  # not XML 1.0
        Case("xes-escapes-in-tag", "events", "esctag.xes",
             raw(f'<?xml version="1.0"?>\n<l{esc}g/>\n'.encode()), "error"),
        Case("xes-gz-identical-traces", "events", "bomb.xes.gz",
             repeated(b'<?xml version="1.0"?>\n<log>\n', XES_TRACE.encode(), 3_000_000,
                      compress=True, tail=b"</log>\n"), "either"),
        # -- Parquet --------------------------------------------------------------------
        Case("parquet-20k-columns", "events", "wide.parquet", parquet_wide(20_000), "error"),
        Case("parquet-nested-and-binary", "events", "nested.parquet", parquet(parquet_nested),
             "load"),
        Case("parquet-100MB-cell", "events", "bigcell.parquet", parquet(parquet_big_cell), "load"),
        Case("parquet-garbage", "events", "garbage.parquet", raw(b"PAR1" + garbage + b"PAR1"), "error"),
        Case("parquet-truncated", "events", "cut.parquet",
             lambda path: (parquet(parquet_nested)(path),
                           path.write_bytes(path.read_bytes()[:-100])), "error"),
        Case("parquet-escape-column", "events", "esc.parquet",
             parquet(lambda: __import__("pyarrow").table({f"who{esc}": ["c1"]})), "error"),
        Case("parquet-20M-identical-rows", "events", "identical.parquet",
             parquet_identical(20_000_000), "load", big=True),
        # -- other ------------------------------------------------------------------------
        Case("unknown-suffix", "events", "data.exe", raw(garbage[:100]), "error"),
        Case("gzip-of-parquet", "events", "x.parquet.gz", raw(gzip.compress(b"PAR1xxPAR1")), "error"),
        Case("csv-plain-17M-identical-rows", "events", "identical.csv",
             repeated((HEADER + "\n").encode(), identical, 17_000_000), "either", big=True),
        Case("csv-plain-17M-distinct-rows", "events", "distinct.csv",
             lambda path: _distinct_rows(path, 17_000_000), "load", big=True),
    ]


def _distinct_rows(path: Path, rows: int) -> None:
    with open(path, "w") as f:
        f.write(HEADER + ",wait_seconds\n")
        chunk = io.StringIO()
        for i in range(rows):
            chunk.write(f"c{i % 2_000_000},tp{i % 37},2024-01-{1 + i % 28:02d}T{i % 24:02d}:"
                        f"{i % 60:02d}:{(i // 60) % 60:02d},{i % 997}\n")
            if i % 500_000 == 499_999:
                f.write(chunk.getvalue())
                chunk = io.StringIO()
        f.write(chunk.getvalue())


# -- running corridor ----------------------------------------------------------------------


def run(case: Case, project: Path, path: Path, timeout: float, ceiling_mb: float) -> Outcome:
    out = Outcome(case)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # /usr/bin/time reports the peak of corridor alone: a child forked straight from
    # this process would count this process's memory from before its exec.
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se, \
            tempfile.NamedTemporaryFile("r") as peak:
        started = time.monotonic()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M", "-o", peak.name,
             sys.executable, "-m", "corridor", "ingest", str(project), case.kind,
             os.fsencode(path), "--json", "--quiet"],
            stdout=so, stderr=se, env=env,
        )
        killed = None
        highest = 0.0
        while proc.poll() is None:
            try:
                children = psutil.Process(proc.pid).children()
                rss = sum(c.memory_info().rss for c in children) / MB
            except psutil.Error:
                children, rss = [], 0.0
            highest = max(highest, rss)
            if killed is None and (time.monotonic() - started > timeout or rss > ceiling_mb):
                killed = "hang" if rss <= ceiling_mb else "blow-up"
                for child in children:
                    child.kill()
            time.sleep(0.05)
        out.seconds = time.monotonic() - started
        reported = peak.read().strip().splitlines()
        out.peak_mb = max(highest, int(reported[-1]) / 1024 if reported and
                          reported[-1].isdigit() else 0.0)
        out.code = proc.returncode
        if reported and reported[0].startswith("Command terminated by signal"):
            out.code = -int(reported[0].split()[-1])
        so.seek(0)
        se.seek(0)
        out.stdout = so.read().decode("utf-8", "backslashreplace")
        out.stderr = se.read().decode("utf-8", "backslashreplace")
    out.verdict = killed or judge(out)
    return out


def judge(out: Outcome) -> str:
    if "Traceback" in out.stderr or "Exception ignored" in out.stderr:
        out.notes.append("traceback on stderr")
    for stream, name in ((out.stdout, "stdout"), (out.stderr, "stderr")):
        if CONTROL.search(stream):
            out.notes.append(f"raw control character on {name}")
    if out.code == 0:
        try:
            counts = json.loads(out.stdout)
        except ValueError:
            out.notes.append("--json printed no JSON")
            return "bad"
        out.counts = counts
        if counts.get("read") != counts.get("accepted", 0) + counts.get("rejected", 0):
            out.notes.append("read != accepted + rejected")
        return "bad" if out.notes else "load"
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    if out.code not in (2, 3):
        out.notes.append(f"exit {out.code}")
    if len(lines) != 1 or not lines[0].startswith("Error:"):
        out.notes.append(f"{len(lines)} lines on stderr")
    return "bad" if out.notes else "clean error"


def meets(out: Outcome) -> bool:
    want = {"load": {"load"}, "error": {"clean error"}, "either": {"load", "clean error"}}
    return out.verdict in want[out.case.expect]


def show(text: str, width: int = 150) -> str:
    text = " | ".join(line for line in text.splitlines() if line.strip())
    text = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="include the multi-GB loads")
    parser.add_argument("-k", action="append", default=[], help="only cases naming this word")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per file")
    parser.add_argument("--ceiling", type=float, default=3000.0, help="MB before a kill")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()

    chosen = [c for c in cases() if (args.big or not c.big)
              and (not args.k or any(word in c.name for word in args.k))]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="fuzz_ingest_"))
    folder.mkdir(parents=True, exist_ok=True)
    blank = folder / "blank.duckdb"
    if not blank.exists():
        made = subprocess.run([sys.executable, "-m", "corridor", "init", str(blank),
                               "--no-pseudonymise"], capture_output=True, text=True)
        if made.returncode:
            print(f"corridor init failed: {made.stderr.strip()}")
            return 1
    outcomes: list[Outcome] = []
    try:
        for number, case in enumerate(chosen, start=1):
            path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(case.filename))))
            started = time.monotonic()
            case.write(path)
            made_in = time.monotonic() - started
            project = folder / f"p{number}.duckdb"
            shutil.copyfile(blank, project)
            out = run(case, project, path, args.timeout, args.ceiling)
            outcomes.append(out)
            size = path.stat().st_size
            said = (f"read {out.counts['read']:,} accepted {out.counts['accepted']:,}"
                    f" rejected {out.counts['rejected']:,}" if out.counts else show(out.stderr))
            flag = "" if meets(out) and not out.notes else "  <-- "
            print(f"{case.name:32} {size / MB:8.1f} MB  {out.verdict:11} exit {out.code!s:>4}"
                  f" {out.seconds:6.1f} s {out.peak_mb:7.0f} MB  {said}"
                  f"{flag}{'; '.join(out.notes) or ('' if meets(out) else 'expected ' + case.expect)}"
                  f"  (written in {made_in:.1f} s)", flush=True)
            if not args.keep:
                path.unlink(missing_ok=True)
                for extra in project.parent.glob(project.name + "*"):
                    shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    verdicts = Counter(o.verdict for o in outcomes)
    missed = [o for o in outcomes if not meets(o)]
    loads = [o for o in outcomes if o.counts]
    print()
    print(f"files tried      {len(outcomes)}")
    print(f"clean errors     {verdicts['clean error']}")
    print(f"loads            {verdicts['load']} (read == accepted + rejected in"
          f" {sum(o.counts['read'] == o.counts['accepted'] + o.counts['rejected'] for o in loads)}"
          f" of {len(loads)})")
    print(f"hangs            {verdicts['hang']}")
    print(f"blow-ups         {verdicts['blow-up']}")
    print(f"bad              {verdicts['bad']}")
    print(f"tracebacks       {sum('traceback on stderr' in o.notes for o in outcomes)}")
    print(f"raw control char {sum(any('control' in n for n in o.notes) for o in outcomes)}")
    print(f"exit codes seen  {dict(sorted(Counter(o.code for o in outcomes).items()))}")
    print(f"peak memory max  {max((o.peak_mb for o in outcomes), default=0):.0f} MB"
          f" ({max(outcomes, key=lambda o: o.peak_mb).case.name if outcomes else '-'})")
    print(f"slowest          {max((o.seconds for o in outcomes), default=0):.1f} s"
          f" ({max(outcomes, key=lambda o: o.seconds).case.name if outcomes else '-'})")
    print(f"not as expected  {len(missed)}"
          + (f": {', '.join(o.case.name for o in missed)}" if missed else ""))
    return 1 if missed or verdicts["bad"] or verdicts["hang"] or verdicts["blow-up"] else 0


if __name__ == "__main__":
    sys.exit(main())
