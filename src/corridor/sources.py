"""Read a user's file as a stream of Arrow batches, each row tagged with its line.

:func:`open_source` picks a reader from the file's suffix (CSV, Parquet, JSON Lines,
XES; ``.gz`` on the text formats). ``source.batches()`` yields ``(table, bad_rows)``:
``table`` holds the source columns plus ``_line`` (int64, the 1-based physical line
where the record starts; the row number for Parquet), and ``bad_rows`` the records the
reader itself could not turn into fields (wrong field count, bytes that are not text,
a line that is not a JSON object). A file is never read whole into memory.

Text files are turned into one stream of UTF-8 bytes first: UTF-8 passes through (BOM
removed); any other encoding is decoded, with bytes it cannot decode kept as escapes,
and re-encoded, so a bad byte fails its own row and not the file. The stream is cut
into blocks at line ends. In a CSV block, numpy finds which line breaks sit inside
quotes and so where each record starts; ``pyarrow.csv`` then parses the block and each
row gets its line. Blocks numpy cannot vouch for (stray quotes, lone ``\r`` line ends,
bytes that are not text, a one-column file) go to the ``csv`` module instead. Either
way a record still open at the end of a block is carried into the next one.

Whatever makes a whole file unreadable (unknown format, broken gzip, corrupt Parquet,
malformed XML, an unusable CSV header) raises :class:`SourceFormatError` with one
sentence naming the file and, where known, the line. Such an error may surface after
some batches were yielded; the caller discards the whole file then.

A hostile file meets the limits below (README, "corridor ingest", Limits): too many
columns or keys, or gzip data that inflates like a decompression bomb, stop the file
with one sentence; an over-long record, or JSON nested deeper than Python's parser goes (about a thousand
levels), fails its own row.
Batches are bounded in cells and bytes, not only rows, so a wide file streams in the
same memory as a narrow one. Messages show file content (names, paths) through
:func:`corridor.errors.printable`, so a control character in a file cannot drive the
terminal that shows the message.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa

from .errors import CorridorError, InputError, SourceFormatError, printable

LINE_COLUMN = "_line"

# -- limits on what one file may hold (README, "corridor ingest", Limits) -----------------
MAX_COLUMNS = 1_000
"""Columns of a CSV header or Parquet file, different keys of a JSON Lines file, and
different event and trace attributes of an XES log; more stops the file. Measured: 2,000
columns of 20,000 rows peaked at 2.25 GB while ingest turned the extra columns into JSON,
1,000 columns of 5,000 rows at 631 MB."""
MAX_RECORD_BYTES = 64 << 20
"""A CSV line or quoted record, or a JSON line; a longer one is a rejected row."""
MAX_XES_TEXT_BYTES = 10_000_000
"""One XES attribute value or text node (libxml2's own limit); a longer one stops the
file, as does XML nested deeper than 256 elements."""
GZIP_MAX_RATIO = 100
"""gzip data may inflate to at most this many times the compressed bytes read so far..."""
GZIP_RATIO_FROM = 64 << 20
"""...once it has inflated to this many bytes (less may inflate further)..."""
GZIP_MAX_BYTES = 64 << 30
"""...and never beyond this many bytes; more stops the file as a decompression bomb."""
BATCH_CELLS = 2_000_000
"""Rows times columns in one batch: a wide file is passed on in fewer rows at a time."""
BATCH_BYTES = 64 << 20
"""Bytes of values in one batch, whatever its rows."""
FORMATS = ("csv", "parquet", "jsonl", "xes", "ocel")
DELIMITERS = (",", ";", "\t", "|")
_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".xes": "xes",
    ".sqlite": "ocel", ".sqlite3": "ocel", ".jsonocel": "ocel",  # OCEL 2.0: corridor.ocel
}
_GZIP_MAGIC = b"\x1f\x8b"
_SAMPLE_BYTES = 1 << 20
_BAD_TEXT = re.compile("[\udc80-\udcff]")  # what 'surrogateescape' makes of undecodable bytes
_SURROGATE = re.compile("[\ud800-\udfff]")
# Appended to a block: if the csv module reads it as a record of its own, every record
# before it was complete; if a quoted field swallows it, the last record is still open.
_SENTINEL_LINE = "\udcff\udcfe\udcfd\n"


@dataclass(frozen=True)
class SourceOptions:
    delimiter: str | None = None  # None = detect (among , ; \t |)
    encoding: str | None = None  # None = detect
    quotechar: str = '"'
    batch_rows: int = 100_000
    max_record_bytes: int = MAX_RECORD_BYTES  # a longer line or record becomes a BadRow
    block_bytes: int = 4 << 20  # how much is read and parsed at a time


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record the reader could not make into fields; ``raw`` is its text. Slotted and
    with its reason interned: a file may hold millions of them."""

    line: int
    column: str | None
    reason: str
    raw: str

    def __post_init__(self):
        object.__setattr__(self, "reason", sys.intern(self.reason))

    def to_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "reason": self.reason, "raw": self.raw}


class Source(Protocol):
    path: Path
    format: str
    columns: list[str]
    size_bytes: int

    def batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]: ...

    def bytes_read(self) -> int: ...

    def raw_rows(self, lines: Iterable[int]) -> dict[int, str]: ...


def open_source(
    path: Path, options: SourceOptions = SourceOptions(), *, format: str | None = None
) -> Source:
    """Open ``path`` for streaming; ``format`` overrides detection from the suffix."""
    path = Path(path)
    _check_options(options)
    if _BAD_TEXT.search(str(path)):
        raise SourceFormatError(
            f"The file name {printable(path.name)} holds bytes that are not UTF-8 text;"
            " rename the file and load it again."
        )
    gz = _is_gzip(path)
    fmt = format if format is not None else _format_from_suffix(path)
    if fmt not in FORMATS:
        raise SourceFormatError(
            f"{printable(path.name)}: unknown format '{printable(fmt)}'; expected one of {', '.join(FORMATS)}."
        )
    if fmt == "jsonl" and format is None and not gz and path.suffix.lower() == ".json":
        from .ocel import looks_like_ocel_json

        fmt = "ocel" if looks_like_ocel_json(path) else fmt
    with _as_source_error(path):
        if gz and fmt in ("csv", "jsonl", "xes"):
            _check_inflation(path)
        if fmt == "ocel":
            from .ocel import open_ocel

            return open_ocel(path, options.batch_rows)
        if fmt == "csv":
            return CsvSource(path, options, gz)
        if fmt == "jsonl":
            return JsonLinesSource(path, options, gz)
        if fmt == "xes":
            return XesSource(path, options, gz)
        if gz:
            raise SourceFormatError(f"{printable(path.name)} is gzip-compressed Parquet; unpack it first.")
        return ParquetSource(path, options)


# -- shared helpers ---------------------------------------------------------------------


def _check_options(options: SourceOptions) -> None:
    for name in ("delimiter", "quotechar"):
        value = getattr(options, name)
        if value is not None and len(value) != 1:
            raise InputError(f"The CSV {name} must be a single character, got {value!r}.")
    if options.delimiter is not None and options.delimiter == options.quotechar:
        raise InputError("The CSV delimiter and quote character must differ.")
    if options.batch_rows < 1:
        raise InputError(f"batch_rows must be at least 1, got {options.batch_rows}.")
    if options.max_record_bytes < 1 or options.block_bytes < 1:
        raise InputError("max_record_bytes and block_bytes must be positive.")
    if options.encoding is not None:
        try:
            codecs.lookup(options.encoding)
        except LookupError:
            raise InputError(f"Unknown text encoding {options.encoding!r}.") from None


def _format_from_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise SourceFormatError(
        f"{printable(path.name)}: cannot tell the format from the file name; use a .csv, .tsv, .txt,"
        " .parquet, .jsonl, .ndjson, .json or .xes file (optionally .gz), or an OCEL 2.0"
        " .sqlite or .json log."
    )


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(2) == _GZIP_MAGIC
    except OSError as error:
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: BaseException) -> SourceFormatError:
    """Turn any low-level failure into one sentence naming the file."""
    if isinstance(error, EOFError):
        what = "the compressed data ends early (the file is truncated)"
    elif isinstance(error, gzip.BadGzipFile):
        what = f"the gzip data is corrupt ({error})"
    elif isinstance(error, FileNotFoundError):
        what = "it does not exist"
    elif isinstance(error, IsADirectoryError):
        what = "it is a folder, not a file"
    elif isinstance(error, PermissionError):
        what = "permission denied"
    else:
        what = str(error) or type(error).__name__
    what = printable(" ".join(what.split()).rstrip("."))  # one line, whatever it wrote
    return SourceFormatError(f"{printable(path.name)} cannot be read: {what}.")


def _open_binary(path: Path, gz: bool) -> tuple[BinaryIO, BinaryIO]:
    """Return (file on disk, stream of its content); the first gives progress."""
    raw = open(path, "rb")
    if not gz:
        return raw, raw
    return raw, _GuardedGzip(path, raw)


def _megabytes(size: int) -> str:
    return f"{size / (1 << 30):,.0f} GB" if size >= 1 << 30 else f"{size / (1 << 20):,.0f} MB"


class _GuardedGzip(gzip.GzipFile):
    """gzip data that stops, with one sentence, when it inflates like a bomb: past
    GZIP_RATIO_FROM bytes, to more than GZIP_MAX_RATIO times the compressed bytes read
    so far, or to more than GZIP_MAX_BYTES in any case."""

    def __init__(self, path: Path, raw: BinaryIO):
        super().__init__(fileobj=raw, mode="rb")
        self._path = path
        self._raw = raw
        self._inflated = 0

    @property
    def inflated(self) -> int:
        return self._inflated

    def _count(self, data: bytes) -> bytes:
        self._inflated += len(data)
        if self._inflated > GZIP_RATIO_FROM:
            packed = max(1, self._raw.tell())
            if self._inflated > GZIP_MAX_BYTES:
                why = f"more than {_megabytes(GZIP_MAX_BYTES)}, the most corridor unpacks"
            elif self._inflated > GZIP_MAX_RATIO * packed:
                why = (f"{_megabytes(self._inflated)} from its first {packed:,} bytes, over"
                       f" {GZIP_MAX_RATIO} times as much")
            else:
                return data
            raise SourceFormatError(
                f"{printable(self._path.name)} inflates to {why}, so corridor stops it as a"
                " likely decompression bomb; unpack it and load the unpacked file if it is"
                " genuine."
            )
        return data

    def read(self, size=-1):
        return self._count(super().read(size))

    def read1(self, size=-1):
        return self._count(super().read1(size))

    def readline(self, size=-1):
        return self._count(super().readline(size))


def _read_sample(path: Path, gz: bool) -> bytes:
    raw, stream = _open_binary(path, gz)
    try:
        return stream.read(_SAMPLE_BYTES)
    finally:
        stream.close()
        raw.close()


def _check_inflation(path: Path) -> None:
    """Inflate the start of gzip data just past GZIP_RATIO_FROM, so that a bomb stops
    before any of it is parsed (reading checks the rest as it goes)."""
    raw, stream = _open_binary(path, True)
    try:
        while stream.read(_SAMPLE_BYTES) and stream.inflated <= GZIP_RATIO_FROM:
            pass
    finally:
        stream.close()
        raw.close()


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def _choose_encoding(
    sample: bytes, wanted: str | None, *, guess: bool = True
) -> tuple[str, bool]:
    """Return (codec name, whether a UTF-8 BOM must be skipped).

    Without ``guess`` a file with no BOM is UTF-8, as JSON Lines must be.
    """
    utf8_bom = sample.startswith(codecs.BOM_UTF8)
    if wanted is not None:
        name = codecs.lookup(wanted).name
        if name == "utf-8-sig":
            return "utf-8", utf8_bom
        return name, utf8_bom and name == "utf-8"
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, name == "utf-8"
    if not guess or _looks_like_utf8(sample):
        return "utf-8", False
    return _guess_legacy_encoding(sample), False


# Single-byte code pages, most likely first (English, Arabic and Russian users above all);
# the order breaks ties between code pages that read a sample equally well.
_LEGACY_ENCODINGS = (
    "cp1252", "cp1251", "cp1256", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "koi8_r",
    "cp866", "cp1253", "cp1254", "cp1255", "cp1257", "iso8859_5", "iso8859_6", "mac_cyrillic",
)


def _guess_legacy_encoding(sample: bytes) -> str:
    """Ask charset_normalizer about the lines that carry non-ASCII bytes."""
    from charset_normalizer import from_bytes  # imported late: it is slow to import

    telling = b"\n".join(line for line in sample.split(b"\n") if not line.isascii())
    matches = list(from_bytes(telling[:65536] or sample, cp_isolation=list(_LEGACY_ENCODINGS)))
    if not matches:
        return "utf-8"  # nothing reads it: undecodable rows will say so one by one
    best = min(matches, key=lambda m: (
        round(m.chaos, 2), -round(m.coherence, 1), _LEGACY_ENCODINGS.index(m.encoding)
        if m.encoding in _LEGACY_ENCODINGS else len(_LEGACY_ENCODINGS),
    ))
    return codecs.lookup(best.encoding).name


def _looks_like_utf8(sample: bytes) -> bool:
    """True when the sample is UTF-8, allowing a few damaged lines among valid ones.

    A file that is UTF-8 with a handful of broken rows should fail those rows, not be
    read in a legacy encoding that turns every Arabic or Cyrillic letter into mojibake.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        pass
    text = sample.decode("utf-8", "surrogateescape")
    lines = text.splitlines()
    damaged = sum(1 for line in lines if _BAD_TEXT.search(line))
    multibyte = any(not line.isascii() and not _BAD_TEXT.search(line) for line in lines)
    return multibyte and damaged <= max(1, len(lines) // 100)


def _printable(text: str) -> str:
    """Undecodable bytes (kept as escapes) shown as U+FFFD so the text can be stored."""
    if _BAD_TEXT.search(text) is None:
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _strip_line_end(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


@dataclass(frozen=True)
class _LongLine:
    """Stands in for a line longer than the limit, which the block reader skipped."""

    prefix: bytes


class _Utf8Blocks:
    """A text file (plain or gzip, any encoding) as blocks of UTF-8 bytes.

    Every block but the last ends at a line end; ``\\r\\n`` is never split. Iterating
    yields ``(block, is_last)``; a line longer than ``max_line`` is skipped and
    stands in as a :class:`_LongLine`.
    """

    def __init__(self, path: Path, gz: bool, encoding: str, skip_bom: bool, *,
                 cr_ends_line: bool, block_bytes: int, max_line: int):
        self.path = path
        self._gz = gz
        self._encoding = encoding
        self._skip_bom = skip_bom
        self._cr = cr_ends_line
        self._block = block_bytes
        self._max_line = max_line
        self.position = 0

    def __iter__(self) -> Iterator[tuple[bytes | _LongLine, bool]]:
        source = self._utf8()
        try:
            pending = None
            for item in self._cut(source):
                if pending is not None:
                    yield pending, False
                pending = item
            if pending is not None:
                yield pending, True
        finally:
            source.close()  # closes the file now, not whenever the generator is collected

    def _utf8(self) -> Iterator[bytes]:
        raw, stream = _open_binary(self.path, self._gz)
        try:
            if self._encoding == "utf-8":
                if self._skip_bom:
                    stream.read(len(codecs.BOM_UTF8))
                while block := stream.read(self._block):
                    self.position = raw.tell()
                    yield block
            else:
                # Undecodable bytes become escapes, and 'surrogatepass' writes those as
                # sequences that are never valid UTF-8: the row fails, the file does not.
                text = io.TextIOWrapper(stream, encoding=self._encoding,
                                        errors="surrogateescape", newline="")
                while chunk := text.read(self._block):
                    self.position = raw.tell()
                    yield chunk.encode("utf-8", "surrogatepass")
        finally:
            stream.close()
            raw.close()

    def _line_end(self, data: bytes) -> int:
        """Index just past the first line end in ``data``; -1 if none is sure yet."""
        lf = data.find(b"\n")
        if not self._cr:
            return lf + 1 if lf >= 0 else -1
        cr = data.find(b"\r", 0, len(data) - 1)  # a final \r may precede a \n
        if cr >= 0 and (lf < 0 or cr < lf) and data[cr + 1] != 0x0A:
            return cr + 1
        return lf + 1 if lf >= 0 else -1

    def _last_line_end(self, data: bytes) -> int:
        lf = data.rfind(b"\n")
        if not self._cr:
            return lf + 1
        cr = data.rfind(b"\r", 0, len(data) - 1)
        return max(lf, cr) + 1

    def _cut(self, blocks: Iterator[bytes]) -> Iterator[bytes | _LongLine]:
        carry = b""
        skipping: bytes | None = None  # prefix of an over-long line being skipped
        for block in blocks:
            data = carry + block if carry else block
            carry = b""
            if skipping is not None:
                end = self._line_end(data)
                if end < 0:
                    # keep a lone final \r: it may pair with the next block's \n
                    carry = data[-1:] if self._cr and data.endswith(b"\r") else b""
                    continue
                yield _LongLine(skipping)
                skipping = None
                data = data[end:]
            cut = self._last_line_end(data)
            if cut == 0:
                carry = data
            else:
                if cut < len(data):
                    carry = data[cut:]
                yield data[:cut] if carry else data
            if len(carry) > self._max_line:
                skipping = carry[:200]
                carry = carry[-1:] if self._cr and carry.endswith(b"\r") else b""
        if skipping is not None:
            yield _LongLine(skipping)
        elif carry:
            yield carry


class _Rebatcher:
    """Collects tables of any size and hands them out in batches of at most ``size``
    rows and BATCH_CELLS rows times columns, and of about BATCH_BYTES bytes at most.
    Bad rows are handed out with the next batch, or on their own once ``size`` of them
    are waiting, so neither kind piles up."""

    def __init__(self, size: int, empty: Callable[[], pa.Table]):
        self._size = size
        self._empty = empty  # the table to hand out when only bad rows are pending
        self._tables: list[pa.Table] = []
        self._rows = 0
        self._bytes = 0
        self._bad: list[BadRow] = []

    def _limit(self) -> int:
        width = self._tables[-1].num_columns if self._tables else 1
        return max(1, min(self._size, BATCH_CELLS // width))

    def add(
        self, table: pa.Table | None, bad: list[BadRow]
    ) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        self._bad.extend(bad)
        if table is not None and table.num_rows:
            self._tables.append(table)
            self._rows += table.num_rows
            self._bytes += table.nbytes
        while self._rows >= self._limit() or (self._rows and self._bytes >= BATCH_BYTES):
            yield self._take(min(self._rows, self._limit()))
        if len(self._bad) >= self._size:
            bad, self._bad = self._bad, []
            yield self._empty(), bad

    def finish(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        while self._rows > self._limit():
            yield self._take(self._limit())
        if self._rows or self._bad:
            yield self._take(self._rows)

    def _take(self, n: int) -> tuple[pa.Table, list[BadRow]]:
        picked: list[pa.Table] = []
        count = 0
        while count < n:
            table = self._tables[0]
            if table.num_rows <= n - count:
                picked.append(self._tables.pop(0))
                count += table.num_rows
            else:
                picked.append(table.slice(0, n - count))
                self._tables[0] = table.slice(n - count)
                count = n
        self._rows -= n
        self._bytes = sum(t.nbytes for t in self._tables)
        if not picked:
            batch = self._empty()
        elif len(picked) == 1:
            batch = picked[0]
        else:
            schema = picked[-1].schema  # the newest has every column (they only grow)
            batch = pa.concat_tables([_conform(t, schema) for t in picked])
        bad, self._bad = self._bad, []
        return batch, bad


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema``, in its order; missing ones all null."""
    if table.schema == schema:
        return table
    arrays = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _string_table(columns: list[str], values: list[list], lines: list[int]) -> pa.Table:
    arrays = [pa.array(v, pa.string()) for v in values]
    arrays.append(pa.array(lines, pa.int64()))
    return pa.Table.from_arrays(arrays, names=[*columns, LINE_COLUMN])


@contextmanager
def _as_source_error(path: Path) -> Iterator[None]:
    """Re-raise anything but our own errors (and MemoryError) as one SourceFormatError
    sentence naming the file."""
    try:
        yield
    except (CorridorError, MemoryError):
        raise
    except Exception as error:
        raise _unreadable(path, error) from error


def _guarded(path: Path, batches: Iterator) -> Iterator:
    with _as_source_error(path):
        yield from batches


def _count_lines(data: bytes) -> int:
    """Physical lines in ``data``; line ends are \\n, \\r\\n and a lone \\r."""
    if not data:
        return 0
    ends = data.count(b"\n")
    if b"\r" in data:
        ends += data.count(b"\r") - data.count(b"\r\n")
    return ends + (0 if data.endswith((b"\n", b"\r")) else 1)


def _blank_lines(data: bytes) -> np.ndarray:
    """A mask over the lines of ``data`` (no lone \\r in it): True where a line is empty."""
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 0x0A)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    length = ends - starts
    first = arr[np.minimum(starts, len(data) - 1)]
    return (length == 0) | ((length == 1) & (first == 0x0D))


@dataclass(frozen=True)
class _Layout:
    """Where the records of a chunk are: ``size`` bytes hold complete records, and
    ``starts`` gives the 0-based line each record starts on (None: one per line)."""

    size: int
    starts: np.ndarray | None


def _dialect(delimiter: str, quotechar: str) -> type[csv.Dialect]:
    class Dialect(csv.Dialect):
        pass

    Dialect.delimiter = delimiter
    Dialect.quotechar = quotechar
    Dialect.doublequote = True
    Dialect.skipinitialspace = False
    Dialect.lineterminator = "\n"
    Dialect.quoting = csv.QUOTE_MINIMAL
    Dialect.strict = False
    return Dialect


def _detect_delimiter(text: str, quotechar: str, fallback: str) -> str:
    """The candidate that splits the header widest and the following rows most evenly."""
    lines = list(io.StringIO(text, newline=""))[:200]
    best, best_score = fallback, (0.0, 1)
    for candidate in DELIMITERS:
        if candidate == quotechar:
            continue
        try:
            records = [r for r in csv.reader(lines, _dialect(candidate, quotechar)) if r][:100]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        body = records[1:-1] or records[1:]  # the sample may cut the last record short
        evenness = sum(len(r) == width for r in body) / len(body) if body else 1.0
        if (evenness, width) > best_score:
            best, best_score = candidate, (evenness, width)
    return best


@dataclass
class _CsvChunk:
    table: pa.Table | None
    bad: list[BadRow]
    end_line: int  # the first line not finished by this chunk
    carry: bytes  # a record still open at the end of the chunk
    raws: dict[int, str]


class _ScannedText:
    """What the line-scanning text sources (CSV, JSON Lines) share: batches of the
    scanned chunks, progress from the reader's position, and raw text of records found
    by scanning the file again. A
    subclass sets ``options``, ``size_bytes``, ``_done`` and ``_reading`` and provides
    ``_scan`` and ``_empty_table``."""

    def _batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        self._done = False
        rebatcher = _Rebatcher(self.options.batch_rows, self._empty_table)
        chunks = self._scan(None)
        try:
            for chunk in chunks:
                tables = chunk.tables if isinstance(chunk, _JsonChunk) else [chunk.table]
                for table in tables[:-1]:
                    yield from rebatcher.add(table, [])
                yield from rebatcher.add(tables[-1] if tables else None, chunk.bad)
        finally:
            chunks.close()
        yield from rebatcher.finish()
        self._done = True

    def bytes_read(self) -> int:
        if self._done:
            return self.size_bytes
        return self._reading.position if self._reading is not None else 0

    def raw_rows(self, lines: Iterable[int]) -> dict[int, str]:
        """The text of the records starting at ``lines`` (line ends inside a record kept,
        the final one dropped). Reads the file once, up to the last line asked for."""
        wanted = set(lines)
        found: dict[int, str] = {}
        if not wanted:
            return found
        last = max(wanted)
        chunks = self._scan(wanted)
        try:
            for chunk in _guarded(self.path, chunks):
                found.update(chunk.raws)
                if chunk.end_line > last:
                    break
        finally:
            chunks.close()
        return found


class CsvSource(_ScannedText):
    """A delimited text file with a header row.

    Fields are strings exactly as written (an empty field is ``""``; header names are
    stripped of surrounding spaces). Blank lines are skipped. A record must have as many
    fields as the header; one holding bytes that are not text in the file's encoding is
    a BadRow naming the column. Lines end with ``\\n``, ``\\r\\n`` or a lone ``\\r``.
    ``options.max_record_bytes`` bounds a line or a quoted record; a longer one is a
    BadRow (after an over-long quoted record the following lines are read as records).
    """

    format = "csv"

    def __init__(self, path: Path, options: SourceOptions, gz: bool):
        self.path = path
        self.options = options
        self._gz = gz
        self.size_bytes = path.stat().st_size
        self.encoding, self._skip_bom = _choose_encoding(_read_sample(path, gz), options.encoding)
        self.quotechar = options.quotechar
        self._reading: _Utf8Blocks | None = None
        self._done = False
        blocks = self._blocks()
        items = iter(blocks)
        try:
            first = next(items, None)
            if first is None:
                raise SourceFormatError(f"{printable(path.name)} is empty; expected a header row.")
            self.delimiter = options.delimiter or self._guess_delimiter(first[0])
            self._dialect = _dialect(self.delimiter, self.quotechar)
            self.columns, _, _, _ = self._take_header(itertools.chain([first], items))
        finally:
            items.close()
        self._width = len(self.columns)
        fast_ok = self.delimiter.isascii() and self.quotechar.isascii() and self._width > 1
        self._quote_byte = ord(self.quotechar) if fast_ok else None

    # public ----------------------------------------------------------------------------
    def batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        return _guarded(self.path, self._batches())

    # reading ---------------------------------------------------------------------------
    def _blocks(self) -> _Utf8Blocks:
        return _Utf8Blocks(
            self.path, self._gz, self.encoding, self._skip_bom, cr_ends_line=True,
            block_bytes=self.options.block_bytes, max_line=self.options.max_record_bytes,
        )

    def _guess_delimiter(self, first: bytes | _LongLine) -> str:
        tab = self.path.name.lower().removesuffix(".gz").endswith(".tsv")
        sample = first if isinstance(first, bytes) else b""
        text = sample[:65536].decode("utf-8", "surrogateescape")
        return _detect_delimiter(text, self.quotechar, "\t" if tab else ",")

    def _scan(self, want: set[int] | None) -> Iterator[_CsvChunk]:
        """Parse the body chunk by chunk; ``want`` switches to collecting raw text."""
        # The limit is process-wide; ours are enforced on bytes before the csv module.
        csv.field_size_limit(max(csv.field_size_limit(), self.options.max_record_bytes))
        blocks = self._blocks()
        if want is None:
            self._reading = blocks
        items = iter(blocks)
        try:
            _, line, rest, rest_is_last = self._take_header(items)
            carry = b""
            limit = self.options.max_record_bytes
            # A record left open is parsed again only once the text after its start has
            # doubled, so a quote that never closes costs linear time, not quadratic.
            left_open = 0
            for item, last in itertools.chain([(rest, rest_is_last)], items):
                if isinstance(item, _LongLine):
                    # an open record running into the over-long line fails with it
                    text = carry + item.prefix
                    yield self._too_long(line, text, want, "line")
                    line += _count_lines(carry) + 1
                    carry, left_open = b"", 0
                    continue
                data = carry + item if carry else item
                if not data:
                    continue
                if left_open and not last and len(data) < min(2 * left_open, limit):
                    carry = data
                    continue
                chunk = self._parse(data, line, last, want)
                yield chunk
                line, carry = chunk.end_line, chunk.carry
                left_open = len(carry)
                if len(carry) > limit:
                    yield self._too_long(line, carry, want, "quoted record")
                    line += _count_lines(carry)
                    carry, left_open = b"", 0
        finally:
            items.close()

    def _too_long(self, line: int, text: bytes, want: set[int] | None, what: str) -> _CsvChunk:
        raw = _printable(text[:200].decode("utf-8", "surrogateescape")) + "…"
        reason = f"the {what} is longer than the limit of {self.options.max_record_bytes:,} bytes"
        raws = {line: raw} if want and line in want else {}
        return _CsvChunk(None, [BadRow(line, None, reason, raw)], line, b"", raws)

    def _parse(self, data: bytes, line: int, last: bool, want: set[int] | None) -> _CsvChunk:
        layout = self._layout(data, last)
        if layout is not None:
            body = data[: layout.size] if layout.size < len(data) else data
            if want is not None and layout.starts is None:
                raws = _wanted_lines(body, line, want)
                return _CsvChunk(None, [], line + _count_lines(body), data[layout.size:], raws)
            if want is None:
                chunk = self._parse_fast(body, line, layout.starts)
                if chunk is not None:
                    chunk.carry = data[layout.size:]
                    return chunk
        return self._parse_python(data, line, last, want)

    def _layout(self, data: bytes, last: bool) -> _Layout | None:
        """Find the records of a chunk with numpy, or None when only the csv module can.

        A line break is inside quotes when an odd number of quote characters precede it
        in the chunk (chunks start at a record). That holds for well-formed quoting, so
        every quote must touch a delimiter, a line end or another quote: a stray quote
        inside unquoted text sends the chunk to the csv module. So do lone \r line ends.
        """
        q = self._quote_byte
        if q is None or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
            return None
        if q not in data:
            return _Layout(len(data), None)
        arr = np.frombuffer(data, np.uint8)
        quotes = np.flatnonzero(arr == q)
        d, size = ord(self.delimiter), len(data)
        before = arr[np.maximum(quotes - 1, 0)]
        after = arr[np.minimum(quotes + 1, size - 1)]
        opens = (quotes == 0) | (before == d) | (before == 0x0A) | (before == q)
        closes = ((quotes == size - 1) | (after == d) | (after == 0x0D) | (after == 0x0A)
                  | (after == q))
        if not (opens | closes).all():
            return None
        breaks = np.flatnonzero(arr == 0x0A)
        inside = (np.searchsorted(quotes, breaks) & 1).astype(bool)
        record_ends = np.flatnonzero(~inside)  # indexes into breaks
        if len(quotes) & 1:  # the chunk ends inside quotes: keep the open record for later
            if last or not record_ends.size:
                return None
            size = int(breaks[record_ends[-1]]) + 1
        if not inside.any():
            return _Layout(size, None)
        lines = int(np.searchsorted(breaks, size)) + (0 if arr[size - 1] == 0x0A else 1)
        starts = np.concatenate(([0], record_ends + 1))
        return _Layout(size, starts[starts < lines])

    def _parse_fast(self, data: bytes, line: int, starts: np.ndarray | None) -> _CsvChunk | None:
        """pyarrow's parser on complete records located by :meth:`_layout`; None to fall back."""
        import pyarrow.csv as pacsv

        invalid: list = []

        def on_invalid(row) -> str:
            invalid.append(row)
            return "skip"

        if not data.isascii():
            try:  # the invalid-row handler would fail on such bytes (and print about it)
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        names = [f"c{i}" for i in range(self._width)]
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter, quote_char=self.quotechar, double_quote=True,
                    escape_char=False, newlines_in_values=starts is not None,
                    ignore_empty_lines=True, invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, check_utf8=True,
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowException:
            return None  # e.g. bytes that are not UTF-8: the csv module finds the row
        count = _count_lines(data)
        records = table.num_rows + len(invalid)
        # pyarrow skips blank lines; only when it skipped some must we find them
        if starts is None:
            present = np.arange(count) if records == count else np.flatnonzero(~_blank_lines(data))
        elif records == len(starts):
            present = starts
        else:
            single = np.diff(np.append(starts, count)) == 1
            present = starts[~(_blank_lines(data)[starts] & single)]
        if len(present) != records:
            return None
        bad = []
        if invalid:
            if any(row.number is None for row in invalid):
                return None
            positions = np.array([row.number - 1 for row in invalid])
            for row, index in zip(invalid, present[positions].tolist()):
                reason = f"expected {self._width} fields, found {row.actual_columns}"
                bad.append(BadRow(line + index, None, reason, row.text))
            present = np.delete(present, positions)
        lines = pa.array(present + line, pa.int64())
        table = table.rename_columns(self.columns).append_column(LINE_COLUMN, lines)
        return _CsvChunk(table, bad, line + count, b"", {})

    def _parse_python(
        self, data: bytes, line: int, last: bool, want: set[int] | None
    ) -> _CsvChunk:
        """The csv module on any chunk; a record still open at the end is carried."""
        try:
            text, dirty = data.decode("utf-8"), False
        except UnicodeDecodeError:
            text, dirty = data.decode("utf-8", "surrogateescape"), True
        lines = list(io.StringIO(text, newline=""))
        n = len(lines)
        if n and lines[-1][-1] not in "\r\n":
            lines[-1] += "\n"  # the sentinel must start a line of its own
        lines.append(_SENTINEL_LINE)
        reader = csv.reader(lines, self._dialect)
        width, names = self._width, self.columns
        rows: list[list[str]] = []
        row_lines: list[int] = []
        bad: list[BadRow] = []
        raws: dict[int, str] = {}
        start = 0  # index of the first line of the record being read
        open_from = -1
        while True:
            try:
                for row in reader:
                    end = reader.line_num
                    if end > n:  # reached the sentinel: alone, or swallowed by an open quote
                        open_from = start if start < n else -1
                        break
                    if len(row) == width:
                        if dirty and (column := _undecodable_column(row, names)) is not None:
                            bad.append(BadRow(
                                line + start, column,
                                f"not valid {self.encoding} text in column {column}",
                                _printable(_strip_line_end("".join(lines[start:end]))),
                            ))
                        else:
                            rows.append(row)
                            row_lines.append(line + start)
                    elif row:
                        bad.append(BadRow(
                            line + start, None, f"expected {width} fields, found {len(row)}",
                            _printable(_strip_line_end("".join(lines[start:end]))),
                        ))
                    if want is not None and row and line + start in want:
                        raws[line + start] = _printable(_strip_line_end("".join(lines[start:end])))
                    start = end
                break
            except csv.Error as error:
                end = reader.line_num
                if end > n:
                    open_from = start if start < n else -1
                    break
                raw = _printable(_strip_line_end("".join(lines[start:end])))
                bad.append(BadRow(line + start, None, f"cannot be parsed as CSV: {error}", raw))
                if want is not None and line + start in want:
                    raws[line + start] = raw
                start = end
        consumed, carry = n, b""
        if open_from >= 0:
            raw = _printable(_strip_line_end("".join(lines[open_from:n])))
            if last:
                bad.append(BadRow(line + open_from, None,
                                  "a quoted field is not closed before the end of the file", raw))
                if want is not None and line + open_from in want:
                    raws[line + open_from] = raw
            else:
                consumed = open_from
                carry = "".join(lines[open_from:n]).encode("utf-8", "surrogateescape")
        table = None
        if want is None:
            columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in names]
            table = _string_table(names, columns, row_lines)
        return _CsvChunk(table, bad, line + consumed, carry, raws)

    def _empty_table(self) -> pa.Table:
        return _string_table(self.columns, [[] for _ in self.columns], [])

    def _take_header(self, items: Iterator) -> tuple[list[str], int, bytes, bool]:
        """Read the first non-blank record; return (names, next line, rest, rest is last)."""
        name = printable(self.path.name)
        buffer = b""
        for item, last in items:
            if isinstance(item, _LongLine):
                raise SourceFormatError(
                    f"{name}: the header row is longer than the limit of"
                    f" {self.options.max_record_bytes:,} bytes."
                )
            buffer += item
            found = self._header_in(buffer, last)
            if found is not None:
                names, header_line, end_line, size = found
                return self._check_names(names, header_line), end_line + 1, buffer[size:], last
            if len(buffer) > self.options.max_record_bytes:
                raise SourceFormatError(
                    f"{name}: no header row within the first"
                    f" {self.options.max_record_bytes:,} bytes."
                )
        raise SourceFormatError(f"{name} is empty; expected a header row.")

    def _header_in(self, buffer: bytes, last: bool) -> tuple[list[str], int, int, int] | None:
        """(names, header line, its last line, bytes up to its end) or None if not complete."""
        lines = list(io.StringIO(buffer.decode("utf-8", "surrogateescape"), newline=""))
        n = len(lines)
        if n and lines[-1][-1] not in "\r\n":
            lines[-1] += "\n"
        lines.append(_SENTINEL_LINE)
        reader = csv.reader(lines, self._dialect)
        start = 0
        try:
            for row in reader:
                end = reader.line_num
                if end > n:
                    if start < n and last:
                        raise SourceFormatError(
                            f"{printable(self.path.name)} line {start + 1}: the header row has a quoted"
                            " field that is never closed."
                        )
                    return None
                if row:
                    size = len("".join(lines[:end]).encode("utf-8", "surrogateescape"))
                    return row, start + 1, end, size
                start = end
        except csv.Error as error:
            raise SourceFormatError(
                f"{printable(self.path.name)} line {start + 1}: the header row cannot be parsed ({error})."
            ) from None
        return None

    def _check_names(self, names: list[str], line: int) -> list[str]:
        where = f"{printable(self.path.name)} line {line}"
        _check_width(self.path, len(names), "the header row has {count} columns", line)
        if any(_BAD_TEXT.search(n) for n in names):
            raise SourceFormatError(f"{where}: the header row is not valid {self.encoding} text.")
        cleaned = [n.strip() for n in names]
        cleaned[0] = cleaned[0].lstrip("\ufeff").strip()  # a second BOM, from a careless merge
        seen: set[str] = set()
        for number, column in enumerate(cleaned, start=1):
            if not column:
                raise SourceFormatError(
                    f"{where}: header column {number} has no name; every column needs one."
                )
            if column in seen:
                raise SourceFormatError(
                    f"{where}: the header names column '{printable(column)}' twice; names must be unique."
                )
            if column == LINE_COLUMN:
                raise SourceFormatError(
                    f"{where}: the column name {LINE_COLUMN} is reserved; rename that column."
                )
            seen.add(column)
        return cleaned


def _check_width(path: Path, count: int, what: str, line: int | None = None) -> None:
    """Stop a file with more than MAX_COLUMNS columns (or keys, or attributes); ``what``
    says what was counted, with ``{count}`` where the number goes."""
    if count > MAX_COLUMNS:
        where = f"{printable(path.name)}{f' line {line:,}' if line else ''}"
        raise SourceFormatError(
            f"{where}: {what.format(count=f'{count:,}')}, more than the {MAX_COLUMNS:,}"
            " columns corridor reads from one file."
        )


def _undecodable_column(row: list[str], names: list[str]) -> str | None:
    for value, name in zip(row, names):
        if _BAD_TEXT.search(value):
            return name
    return None


def _wanted_lines(data: bytes, line: int, want: set[int]) -> dict[int, str]:
    """Raw text of wanted lines of a chunk where every line is one record."""
    count = _count_lines(data)
    hits = [w for w in want if line <= w < line + count]
    if not hits:
        return {}
    parts = data.split(b"\n")
    found = {}
    for wanted in hits:
        text = parts[wanted - line]
        if text.endswith(b"\r"):
            text = text[:-1]
        if text:
            found[wanted] = text.decode("utf-8", "replace")
    return found


# -- JSON Lines -------------------------------------------------------------------------


_JSON = json.JSONDecoder()


def _json_text(value) -> str | None:
    """A JSON value as the text a CSV would hold: strings as they are, the rest as JSON."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


@dataclass
class _JsonChunk:
    tables: list[pa.Table]  # in parts, each within BATCH_CELLS
    bad: list[BadRow]
    end_line: int
    raws: dict[int, str]


class JsonLinesSource(_ScannedText):
    """One JSON object per line (UTF-8 unless a BOM or ``options.encoding`` says
    otherwise; blank lines skipped).

    Values become text: strings as they are, numbers and true/false as written in JSON,
    null as null, nested objects and arrays as compact JSON. ``columns`` starts as the
    keys of the objects in the first block of the file (first seen first); a key first
    seen later is appended to ``columns`` when reached, and every batch carries all the
    keys seen so far, so batch schemas only grow. A line that is not a JSON object is a
    BadRow.
    """

    format = "jsonl"
    _SAMPLE_LINES = 1000

    def __init__(self, path: Path, options: SourceOptions, gz: bool):
        self.path = path
        self.options = options
        self._gz = gz
        self.size_bytes = path.stat().st_size
        self.encoding, self._skip_bom = _choose_encoding(
            _read_sample(path, gz), options.encoding, guess=False)
        self.columns: list[str] = []
        self._reading: _Utf8Blocks | None = None
        self._done = False
        items = iter(self._blocks())
        try:
            first = next(items, None)
        finally:
            items.close()
        head = first[0] if first is not None and isinstance(first[0], bytes) else b""
        if first is None or (first[1] and not head.strip()):
            raise SourceFormatError(f"{printable(path.name)} is empty; expected one JSON object per line.")
        if path.name.lower().removesuffix(".gz").endswith(".json") and head.lstrip()[:1] == b"[":
            raise SourceFormatError(
                f"{printable(path.name)} holds a JSON array; corridor reads JSON Lines, one object per line."
            )
        sample = b"\n".join(head.split(b"\n", self._SAMPLE_LINES)[: self._SAMPLE_LINES])
        self._parse(sample, 1, None)

    def batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        return _guarded(self.path, self._batches())

    def _empty_table(self) -> pa.Table:
        return _string_table(self.columns, [[] for _ in self.columns], [])

    def _blocks(self) -> _Utf8Blocks:
        return _Utf8Blocks(
            self.path, self._gz, self.encoding, self._skip_bom, cr_ends_line=False,
            block_bytes=self.options.block_bytes, max_line=self.options.max_record_bytes,
        )

    def _scan(self, want: set[int] | None) -> Iterator[_JsonChunk]:
        blocks = self._blocks()
        if want is None:
            self._reading = blocks
        items = iter(blocks)
        line = 1
        try:
            for item, _ in items:
                if isinstance(item, _LongLine):
                    raw = _printable(item.prefix.decode("utf-8", "surrogateescape")) + "…"
                    reason = (f"the line is longer than the limit of"
                              f" {self.options.max_record_bytes:,} bytes")
                    raws = {line: raw} if want and line in want else {}
                    yield _JsonChunk([], [BadRow(line, None, reason, raw)], line + 1, raws)
                    line += 1
                    continue
                chunk = self._parse(item, line, want)
                yield chunk
                line = chunk.end_line
        finally:
            items.close()

    def _parse(self, data: bytes, line: int, want: set[int] | None) -> _JsonChunk:
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        end_line = line + len(lines)
        if want is not None:
            raws = {}
            for wanted in want:
                if line <= wanted < end_line and lines[wanted - line].strip():
                    raws[wanted] = _printable(
                        lines[wanted - line].decode("utf-8", "surrogateescape").removesuffix("\r")
                    )
            return _JsonChunk([], [], end_line, raws)
        objects: list[dict[str, str | None]] = []
        object_lines: list[int] = []
        bad: list[BadRow] = []
        known = dict.fromkeys(self.columns)
        for number, raw in enumerate(lines, start=line):
            if not raw.strip():
                continue
            problem = None
            try:
                text = raw.decode("utf-8")
                value, end = _JSON.raw_decode(text, len(text) - len(text.lstrip()))
                if text[end:].strip():
                    raise json.JSONDecodeError("Extra data", text, end)
                if type(value) is dict:
                    value = {k: v if type(v) is str else _json_text(v) for k, v in value.items()}
            except UnicodeDecodeError:
                problem = "not valid UTF-8 text"
            except RecursionError:
                problem = "not readable JSON: arrays or objects nested too deeply"
            except ValueError as error:
                if isinstance(error, json.JSONDecodeError):
                    problem = f"not valid JSON ({error.msg} at column {error.colno})"
                else:
                    problem = ("not readable JSON: a number with more digits than Python reads"
                               if "digits" in str(error) else f"not valid JSON ({error})")
            else:
                if type(value) is not dict:
                    found = _JSON_KINDS.get(type(value), "a value")
                    problem = f"not a JSON object (found {found})"
                elif LINE_COLUMN in value:
                    problem = f"uses the key {LINE_COLUMN}, reserved for line numbers"
                elif (b"\\ud" in raw or b"\\uD" in raw) and _has_surrogate(value):
                    problem = "not text: a \\u escape stands for half of a UTF-16 surrogate pair"
            if problem is not None:
                text = _printable(raw.decode("utf-8", "surrogateescape").removesuffix("\r"))
                bad.append(BadRow(number, None, problem, text))
                continue
            if not known.keys() >= value.keys():
                known.update(dict.fromkeys(value))
                _check_width(self.path, len(known),
                             "the objects up to this line have {count} different keys", number)
            objects.append(value)
            object_lines.append(number)
        existing = set(self.columns)
        self.columns.extend(k for k in known if k not in existing)
        per = max(1, BATCH_CELLS // (len(self.columns) + 1))
        tables = []
        for start in range(0, len(objects), per):
            part = objects[start:start + per]
            values = [[o.get(key) for o in part] for key in self.columns]
            tables.append(_string_table(self.columns, values, object_lines[start:start + per]))
        return _JsonChunk(tables, bad, end_line, {})


def _has_surrogate(row: dict[str, str | None]) -> bool:
    """True when a key or value holds a lone surrogate (JSON can write one as \\ud800)."""
    return any(_SURROGATE.search(k) or (v is not None and _SURROGATE.search(v))
               for k, v in row.items())


# -- Parquet ----------------------------------------------------------------------------


class ParquetSource:
    """A Parquet file read batch by batch; columns keep their Parquet types and
    ``_line`` is the 1-based row number."""

    format = "parquet"

    def __init__(self, path: Path, options: SourceOptions):
        import pyarrow.parquet as pq

        self.path = path
        self.options = options
        self.size_bytes = path.stat().st_size
        self._file = pq.ParquetFile(path)
        self.columns = list(self._file.schema_arrow.names)
        _check_width(path, len(self.columns), "the file has {count} columns")
        self._rows = self._file.metadata.num_rows
        self._rows_read = 0
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise SourceFormatError(
                f"{printable(path.name)} has more than one column named '{printable(duplicates[0])}';"
                " names must be unique."
            )
        if LINE_COLUMN in self.columns:
            raise SourceFormatError(
                f"{printable(path.name)}: the column name {LINE_COLUMN} is reserved; rename that column."
            )

    def batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        return _guarded(self.path, self._batches())

    def bytes_read(self) -> int:
        if not self._rows:
            return self.size_bytes
        return self.size_bytes * self._rows_read // self._rows

    def raw_rows(self, lines: Iterable[int]) -> dict[int, str]:
        """The rows numbered ``lines``, each rendered as a JSON object."""
        wanted = sorted({n for n in lines if 1 <= n <= self._rows})
        found: dict[int, str] = {}
        first_row = 0
        try:
            for group in range(self._file.num_row_groups):
                count = self._file.metadata.row_group(group).num_rows
                inside = [n for n in wanted if first_row < n <= first_row + count]
                if inside:
                    table = self._file.read_row_group(group)
                    picked = table.take(pa.array([n - first_row - 1 for n in inside]))
                    for number, row in zip(inside, picked.to_pylist()):
                        found[number] = json.dumps(row, ensure_ascii=False, default=str)
                first_row += count
        except CorridorError:
            raise
        except Exception as error:
            raise _unreadable(self.path, error) from error
        return found

    def _batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        self._rows_read = 0
        empty = self._file.schema_arrow.empty_table().append_column(
            LINE_COLUMN, pa.array([], pa.int64()))
        rebatcher = _Rebatcher(self.options.batch_rows, lambda: empty)
        size = max(1, min(self.options.batch_rows, BATCH_CELLS // (len(self.columns) + 1)))
        for batch in self._file.iter_batches(batch_size=size, use_threads=False):
            start = self._rows_read
            self._rows_read += batch.num_rows
            lines = pa.array(np.arange(start + 1, self._rows_read + 1), pa.int64())
            table = pa.Table.from_batches([batch]).append_column(LINE_COLUMN, lines)
            table, bad = self._without_long_rows(table)
            yield from rebatcher.add(table, bad)
        yield from rebatcher.finish()

    def _without_long_rows(self, table: pa.Table) -> tuple[pa.Table, list[BadRow]]:
        """Rows whose text and binary values hold more than ``max_record_bytes`` become
        BadRows, as an over-long CSV record does."""
        import pyarrow.compute as pc

        limit = self.options.max_record_bytes
        sizes = None
        for column, field in zip(table.columns, table.schema):
            kind = field.type
            if (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                    or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
                if column.nbytes <= limit:
                    continue  # no value of it can be too long
                length = pc.fill_null(pc.binary_length(column), 0).cast(pa.int64())
                sizes = length if sizes is None else pc.add(sizes, length)
        if sizes is None or pc.max(sizes).as_py() <= limit:
            return table, []
        long = pc.greater(sizes, limit)
        reason = f"the row is longer than the limit of {limit:,} bytes"
        bad = [BadRow(line, None, reason, f"(row {line} of the Parquet file)")
               for line in table.filter(long).column(LINE_COLUMN).to_pylist()]
        return table.filter(pc.invert(long)), bad


# -- XES --------------------------------------------------------------------------------

_XES_VALUE_TAGS = {"string", "date", "int", "float", "boolean", "id"}
_XES_FIXED = ("case_id", "touchpoint", "timestamp")


_LOCAL_NAMES: dict[str, str] = {}


_XesEvent = tuple[int, dict[str, str], bool]  # (line of <event>, row, inside a trace)


def _json_object(row: dict[str, str | None]) -> str:
    return json.dumps(row, ensure_ascii=False)


def _local(tag) -> str:
    """A tag without its namespace (``{http://www.xes-standard.org/}event`` -> ``event``)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        if len(_LOCAL_NAMES) < 1000:
            _LOCAL_NAMES[tag] = name
    return name


def _xes_value(element) -> str | None:
    """An attribute's value as text; lists and containers as JSON of their children."""
    kind = _local(element.tag)
    if kind in _XES_VALUE_TAGS:
        return element.get("value")
    if kind == "list":
        values = [c for c in element if _local(c.tag) == "values"]
        items = values[0] if values else element
        return json.dumps([_xes_value(c) for c in items if _local(c.tag) != "values"],
                          ensure_ascii=False)
    if kind == "container":
        return json.dumps({c.get("key"): _xes_value(c) for c in element}, ensure_ascii=False)
    return element.get("value")


class XesSource:
    """An IEEE 1849 XES event log (plain or gzip), parsed incrementally with lxml.

    One row per event: ``case_id`` (the trace's concept:name, or ``trace-<n>`` for the
    n-th trace when it has none), ``touchpoint`` (the event's concept:name),
    ``timestamp`` (time:timestamp exactly as written), every other event attribute by its
    key (``org:resource``, ``lifecycle:transition``...; a key that clashes with those
    three is prefixed ``event:``) and every other trace attribute prefixed ``trace:``.
    Values are text; list and container attributes are JSON; meta-attributes nested in
    an attribute are ignored, and so are the log's ``<global>`` defaults, classifiers and
    extensions. ``_line`` is the line of the event's start tag. A trace's events are held
    until the trace closes so that attributes after its events still apply; a trace
    longer than 10,000 events is passed on in parts, using the trace attributes read
    before its events (the standard puts them there). ``columns`` starts from the first
    1,000 events and grows, like JSON Lines, as new keys appear. An event outside any
    trace is a BadRow.
    """

    format = "xes"
    _SAMPLE_EVENTS = 1000
    _TRACE_HOLD = 10_000

    def __init__(self, path: Path, options: SourceOptions, gz: bool):
        self.path = path
        self.options = options
        self._gz = gz
        self.size_bytes = path.stat().st_size
        self.columns: list[str] = list(_XES_FIXED)
        self._position = 0
        self._done = False
        self._recent: pa.Table | None = None
        events = self._events()
        try:
            for count, (line, row, in_trace) in enumerate(events, start=1):
                if in_trace:
                    self._learn(row, line)
                if count >= self._SAMPLE_EVENTS:
                    break
        finally:
            events.close()

    def batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        return _guarded(self.path, self._batches())

    def bytes_read(self) -> int:
        return self.size_bytes if self._done else self._position

    def raw_rows(self, lines: Iterable[int]) -> dict[int, str]:
        """The events starting at ``lines``, each rendered as a JSON object (one pass)."""
        wanted = set(lines)
        found: dict[int, str] = {}
        if not wanted:
            return found
        last = max(wanted)
        events = self._events()
        try:
            for line, row, in_trace in _guarded(self.path, events):
                if line in wanted:
                    found[line] = self._render(row) if in_trace else _json_object(row)
                if line >= last:  # events come in file order
                    break
        finally:
            events.close()
        return found

    def _render(self, row: dict[str, str]) -> str:
        return _json_object({k: row[k] for k in self.columns if row.get(k) is not None})

    def _learn(self, row: dict[str, str], line: int) -> None:
        if not set(self.columns).issuperset(row):
            known = set(self.columns)
            new = [k for k in row if k not in known]
            _check_width(self.path, len(known) + len(new),
                         "the events up to this line have {count} different attributes", line)
            self.columns.extend(new)

    def _batches(self) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        self._done = False
        rebatcher = _Rebatcher(self.options.batch_rows, self._empty_table)
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        bad: list[BadRow] = []
        for line, row, in_trace in self._events():
            if not in_trace:
                bad.append(BadRow(line, None, "the event is outside any trace", _json_object(row)))
                continue
            self._learn(row, line)
            rows.append(row)
            lines.append(line)
            if len(rows) >= self.options.batch_rows:
                yield from rebatcher.add(self._table(rows, lines), bad)
                rows, lines, bad = [], [], []
        yield from rebatcher.add(self._table(rows, lines), bad)
        yield from rebatcher.finish()
        self._done = True

    def _empty_table(self) -> pa.Table:
        return self._table([], [])

    def _table(self, rows: list[dict[str, str]], lines: list[int]) -> pa.Table:
        values = [[r.get(k) for r in rows] for k in self.columns]
        return _string_table(self.columns, values, lines)

    def _events(self) -> Iterator[_XesEvent]:
        """Yield every event in file order (with a trace's events held until it closes)."""
        from lxml import etree

        raw, stream = _open_binary(self.path, self._gz)
        try:
            parser = etree.iterparse(
                stream, events=("start", "end"), tag=("{*}trace", "{*}event"),
                resolve_entities=False, no_network=True, remove_comments=True,
                remove_pis=True, huge_tree=False,  # libxml2's limits on text and depth
            )
            yield from self._walk(parser, raw)
            if parser.root is not None:
                self._check_root(parser.root)
        except etree.XMLSyntaxError as error:
            line, column = error.position
            raise SourceFormatError(
                f"{printable(self.path.name)} line {line}, column {column}:"
                f" {_xml_problem(str(error.msg))}."
            ) from None
        finally:
            stream.close()
            raw.close()

    def _check_root(self, root) -> None:
        if _local(root.tag) != "log":
            raise SourceFormatError(
                f"{printable(self.path.name)} is not an XES event log: its root element is"
                f" <{_local(root.tag)}>, expected <log>."
            )

    def _walk(self, parser, raw: BinaryIO) -> Iterator[_XesEvent]:
        """Walk <trace> and <event> elements only; attributes are read from them."""
        traces = 0
        trace = None  # the open <trace>
        event_line = 0
        trace_attributes: dict[str, str] = {}
        read_leading = False  # trace attributes before the first event were read
        held: list[tuple[int, dict[str, str]]] = []
        case_id: str | None = None  # fixed once part of a long trace was passed on
        for action, element in parser:
            is_event = _local(element.tag) == "event"
            if action == "start":
                if is_event:
                    event_line = element.sourceline
                elif trace is None:
                    if traces == 0:
                        self._check_root(element.getroottree().getroot())
                    traces += 1
                    trace, trace_attributes, held = element, {}, []
                    read_leading, case_id = False, None
                continue
            if is_event:
                if trace is None or element.getparent() is not trace:
                    yield event_line, self._event_row(element), False
                else:
                    if not read_leading:
                        _read_attributes(trace, trace_attributes, stop_at=element)
                        read_leading = True
                    held.append((event_line, self._event_row(element)))
                    if len(held) >= self._TRACE_HOLD:
                        if case_id is None:
                            case_id = trace_attributes.get("concept:name") or f"trace-{traces}"
                        yield from self._with_trace(held, trace_attributes, case_id)
                        held = []
                        self._position = raw.tell()
                _forget(element)
            elif element is trace:
                _read_attributes(trace, trace_attributes)  # those after the events, if any
                if case_id is None:
                    case_id = trace_attributes.get("concept:name") or f"trace-{traces}"
                yield from self._with_trace(held, trace_attributes, case_id)
                held, trace = [], None
                self._position = raw.tell()
                _forget(element)

    @staticmethod
    def _event_row(element) -> dict[str, str]:
        row: dict[str, str] = {}
        for child in element:
            key = child.get("key")
            if key is None:
                continue
            if key == "concept:name":
                row["touchpoint"] = _xes_value(child)
            elif key == "time:timestamp":
                row["timestamp"] = _xes_value(child)
            elif key in _XES_FIXED or key == LINE_COLUMN:
                row[f"event:{key}"] = _xes_value(child)
            else:
                row[key] = _xes_value(child)
        return row

    @staticmethod
    def _with_trace(held, trace_attributes, case_id) -> Iterator[_XesEvent]:
        extra = {f"trace:{k}": v for k, v in trace_attributes.items() if k != "concept:name"}
        for line, row in held:
            yield line, {"case_id": case_id, **row, **extra}, True


# libxml2's own limits, which guard against hostile XML, in words a user can act on
_XML_LIMITS = (
    ("amplification", "the XES file defines entities that expand explosively (an entity"
                      " bomb), which corridor does not read"),
    ("external entity", "the XES file refers to an external entity, which corridor does"
                        " not read"),
    ("Excessive depth", "the XES file nests elements more than 256 levels deep, the most"
                        " corridor reads"),
    ("Resource limit exceeded", f"the XES file holds a value or text longer than"
                                f" {MAX_XES_TEXT_BYTES:,} bytes, the most corridor reads"),
    ("huge", f"the XES file holds a value or text longer than {MAX_XES_TEXT_BYTES:,} bytes,"
             " the most corridor reads"),
)


def _xml_problem(message: str) -> str:
    """What a libxml2 error means for the user, in one clause."""
    for clue, meaning in _XML_LIMITS:
        if clue in message:
            return meaning
    message = " ".join(message.split())
    message = re.sub(r", line \d+, column \d+$", "", message).rstrip(". ")
    return f"the XES file is not well-formed XML ({printable(message)})"


def _read_attributes(parent, into: dict[str, str], stop_at=None) -> None:
    """Put the keyed attributes that are children of ``parent`` into ``into``."""
    for child in parent:
        if child is stop_at:
            break
        key = child.get("key")
        if key is not None and _local(child.tag) != "event":
            into[key] = _xes_value(child)


def _forget(element) -> None:
    """Free a parsed element and the finished siblings before it."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
