"""Streaming source readers: every record lands once, at its exact line, text intact."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from corridor.errors import InputError, SourceFormatError
from corridor.sources import LINE_COLUMN, BadRow, SourceOptions, open_source


def read_all(path: Path, options: SourceOptions = SourceOptions(), **kwargs):
    source = open_source(path, options, **kwargs)
    tables, bad = [], []
    for table, bad_rows in source.batches():
        tables.append(table)
        bad.extend(bad_rows)
    rows = pa.concat_tables(tables, promote_options="default").to_pylist() if tables else []
    return source, rows, bad


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_one_sentence_naming(error: SourceFormatError, path: Path) -> str:
    message = str(error)
    assert path.name in message
    assert "\n" not in message
    return message


# -- CSV: text and encodings ---------------------------------------------------------------


def test_arabic_and_cyrillic_utf8_text_is_kept_intact(tmp_path):
    text = "id,name,comment\n1,محمد العلي,خدمة ممتازة\n2,Наталья Иванова,Ждала ответа неделю\n"
    source, rows, bad = read_all(write_bytes(tmp_path / "people.csv", text.encode("utf-8")))
    assert source.encoding == "utf-8"
    assert bad == []
    assert [(r["name"], r["comment"]) for r in rows] == [
        ("محمد العلي", "خدمة ممتازة"),
        ("Наталья Иванова", "Ждала ответа неделю"),
    ]


@pytest.mark.parametrize(
    ("encoding", "name", "comment"),
    [
        ("cp1251", "Иван Петров", "Клиент доволен обслуживанием в отделении"),
        ("cp1256", "محمد العلي", "العميل راض عن الخدمة في الفرع"),
    ],
)
def test_legacy_code_page_is_detected_and_decoded(tmp_path, encoding, name, comment):
    lines = ["id,name,comment"] + [f"{i},{name},{comment} {i}" for i in range(20)]
    path = write_bytes(tmp_path / "legacy.csv", ("\n".join(lines) + "\n").encode(encoding))
    source, rows, bad = read_all(path)
    assert source.encoding == encoding
    assert bad == []
    assert (rows[3]["name"], rows[3]["comment"]) == (name, f"{comment} 3")


def test_byte_undefined_in_the_code_page_fails_only_its_row(tmp_path):
    text = "\n".join(["id,name"] + [f"{i},Светлана Кузнецова" for i in range(20)]) + "\n"
    data = text.encode("cp1251").replace(b"5,", b"5,\x98", 1)  # 0x98 means nothing in cp1251
    source, rows, bad = read_all(write_bytes(tmp_path / "hole.csv", data), SourceOptions(
        encoding="cp1251"))
    assert len(rows) == 19
    assert [(b.line, b.column) for b in bad] == [(7, "name")]
    assert rows[5]["name"] == "Светлана Кузнецова"


def test_explicit_encoding_overrides_detection(tmp_path):
    path = write_bytes(tmp_path / "l1.csv", "id,city\n1,Zürich\n".encode("latin-1"))
    source, rows, _ = read_all(path, SourceOptions(encoding="latin-1"))
    assert rows[0]["city"] == "Zürich"


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = write_bytes(tmp_path / "bom.csv", "\ufeffid,name\n1,Ана\n".encode("utf-8"))
    source, rows, _ = read_all(path)
    assert source.columns == ["id", "name"]
    assert rows == [{"id": "1", "name": "Ана", LINE_COLUMN: 2}]


def test_utf16_file_with_bom_is_read(tmp_path):
    path = write_bytes(tmp_path / "wide.csv", "id,name\r\n1,سارة\r\n".encode("utf-16"))
    _, rows, bad = read_all(path)
    assert bad == []
    assert rows == [{"id": "1", "name": "سارة", LINE_COLUMN: 2}]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path, delimiter):
    lines = [["id", "amount", "note"], ["1", "2,5", "a b"], ["2", "3,5", "c"], ["3", "1", "d"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(lines)
    path = write_bytes(tmp_path / "d.txt", buffer.getvalue().encode())
    source, rows, bad = read_all(path)
    assert source.delimiter == delimiter
    assert source.columns == ["id", "amount", "note"]
    assert bad == []
    assert rows[0]["amount"] == "2,5"


# -- CSV: records and lines ----------------------------------------------------------------


def test_quoted_newlines_report_the_line_where_the_record_starts(tmp_path):
    text = (
        'id,text,n\n'
        '1,"first\nsecond\nthird",x\n'
        '\n'
        '2,"a\r\nb",y\n'
        '3,plain,z\n'
    )
    _, rows, bad = read_all(write_bytes(tmp_path / "q.csv", text.encode()))
    assert bad == []
    assert [(r["id"], r[LINE_COLUMN]) for r in rows] == [("1", 2), ("2", 6), ("3", 8)]
    assert rows[0]["text"] == "first\nsecond\nthird"
    assert rows[1]["text"] == "a\r\nb"


def test_lone_carriage_returns_end_lines(tmp_path):
    path = write_bytes(tmp_path / "mac.csv", b"id,name\r1,a\r2,b\r")
    _, rows, _ = read_all(path)
    assert [(r["name"], r[LINE_COLUMN]) for r in rows] == [("a", 2), ("b", 3)]


def test_wrong_field_count_is_a_bad_row_with_its_line(tmp_path):
    text = "a,b,c,d,e,f,g,h\n" + "1,2,3,4,5,6,7,8\n" + "1,2,3,4,5\n" + "1,2,3,4,5,6,7,8\n"
    _, rows, bad = read_all(write_bytes(tmp_path / "w.csv", text.encode()))
    assert [r[LINE_COLUMN] for r in rows] == [2, 4]
    assert bad == [BadRow(3, None, "expected 8 fields, found 5", "1,2,3,4,5")]


def test_invalid_bytes_fail_their_row_and_neighbours_load(tmp_path):
    data = "id,name\n1,Ольга\n".encode() + b"2,Ol\xffga\n" + "3,Лейла\n".encode()
    source, rows, bad = read_all(write_bytes(tmp_path / "bytes.csv", data))
    assert source.encoding == "utf-8"
    assert [(r["id"], r["name"]) for r in rows] == [("1", "Ольга"), ("3", "Лейла")]
    assert len(bad) == 1
    assert (bad[0].line, bad[0].column) == (3, "name")
    assert "not valid utf-8 text" in bad[0].reason
    assert bad[0].raw == "2,Ol\ufffdga"


def test_a_10_mb_field_loads(tmp_path):
    big = "x" * (10 * 1024 * 1024)
    path = write_bytes(tmp_path / "big.csv", f"id,blob\n1,{big}\n2,small\n".encode())
    _, rows, bad = read_all(path)
    assert bad == []
    assert len(rows[0]["blob"]) == len(big)
    assert rows[1] == {"id": "2", "blob": "small", LINE_COLUMN: 3}


def test_a_record_over_the_size_limit_is_a_bad_row_not_a_crash(tmp_path):
    path = write_bytes(tmp_path / "limit.csv", b"id,blob\n1,short\n2," + b"y" * 5000 + b"\n3,ok\n")
    _, rows, bad = read_all(path, SourceOptions(max_record_bytes=1000, block_bytes=256))
    assert [r["id"] for r in rows] == ["1", "3"]
    assert [r[LINE_COLUMN] for r in rows] == [2, 4]
    assert [(b.line, b.column) for b in bad] == [(3, None)]
    assert "longer than the limit" in bad[0].reason


def test_raw_rows_returns_the_exact_original_text(tmp_path):
    text = 'id,text\r\n1,"two\r\nlines"\r\n2,"say ""hi"""\r\n\r\n3,شكرا\r\n'
    path = write_bytes(tmp_path / "raw.csv", text.encode())
    source = open_source(path)
    list(source.batches())
    assert source.raw_rows([2, 4, 6, 5, 99]) == {
        2: '1,"two\r\nlines"',
        4: '2,"say ""hi"""',
        6: "3,شكرا",
    }


def test_batches_stream_in_the_requested_size(tmp_path):
    path = tmp_path / "many.csv"
    with path.open("w") as file:
        file.write("id,value\n")
        file.writelines(f"{i},{i % 7}\n" for i in range(250_000))
    source = open_source(path, SourceOptions(batch_rows=100_000, block_bytes=1 << 20))
    sizes, first_read = [], None
    for table, _ in source.batches():
        sizes.append(table.num_rows)
        if first_read is None:
            first_read = source.bytes_read()
    assert sizes == [100_000, 100_000, 50_000]
    assert first_read < source.size_bytes  # the file was not read whole before the first batch
    assert source.bytes_read() == source.size_bytes


def test_gzipped_csv_reads_like_the_plain_file(tmp_path):
    text = "id,name\n1,Ахмед\n2,Björn\n"
    path = write_bytes(tmp_path / "z.csv.gz", gzip.compress(text.encode()))
    source, rows, _ = read_all(path)
    assert source.format == "csv"
    assert [(r["name"], r[LINE_COLUMN]) for r in rows] == [("Ахмед", 2), ("Björn", 3)]


# -- CSV: files that cannot be read -------------------------------------------------------


def test_empty_file_is_a_source_format_error(tmp_path):
    path = write_bytes(tmp_path / "empty.csv", b"")
    with pytest.raises(SourceFormatError, match="empty.csv is empty; expected a header row"):
        open_source(path)


@pytest.mark.parametrize(
    ("header", "problem"),
    [("id,name,id", "twice"), ("id,,name", "no name"), ("id,_line", "reserved")],
)
def test_unusable_header_is_a_source_format_error(tmp_path, header, problem):
    path = write_bytes(tmp_path / "h.csv", f"\n{header}\n1,2,3\n".encode())
    with pytest.raises(SourceFormatError) as caught:
        open_source(path)
    message = assert_one_sentence_naming(caught.value, path)
    assert "line 2" in message and problem in message


def test_truncated_gzip_is_a_source_format_error(tmp_path):
    rows = "".join(f"{i},customer-{i}\n" for i in range(20_000))
    packed = gzip.compress(("id,name\n" + rows).encode())
    path = write_bytes(tmp_path / "cut.csv.gz", packed[: len(packed) // 2])
    with pytest.raises(SourceFormatError) as caught:
        read_all(path)
    assert "truncated" in assert_one_sentence_naming(caught.value, path)


def test_unknown_suffix_is_a_source_format_error(tmp_path):
    path = write_bytes(tmp_path / "data.xlsx", b"PK")
    with pytest.raises(SourceFormatError) as caught:
        open_source(path)
    assert_one_sentence_naming(caught.value, path)


def test_missing_file_is_a_source_format_error(tmp_path):
    with pytest.raises(SourceFormatError, match="nowhere.csv cannot be read"):
        open_source(tmp_path / "nowhere.csv")


def test_bad_options_are_input_errors(tmp_path):
    path = write_bytes(tmp_path / "o.csv", b"a,b\n1,2\n")
    with pytest.raises(InputError):
        open_source(path, SourceOptions(delimiter=";;"))
    with pytest.raises(InputError):
        open_source(path, SourceOptions(encoding="no-such-codec"))


# -- CSV: property -------------------------------------------------------------------------

_FIELD = st.text(
    alphabet=st.sampled_from(list('ab ,;|\t"\n\r\'xyzЖшعر7-')), max_size=8
)
_MARK = "\u2603"  # stands for an invalid byte; not in the field alphabet


@st.composite
def csv_files(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    width = draw(st.integers(2, 4))
    names = [f"col{i}" for i in range(width)]
    kind = st.sampled_from(["good"] * 6 + ["count", "bytes", "blank"])
    kinds = draw(st.lists(kind, max_size=40))
    records = []
    for kind in kinds:
        if kind == "blank":
            records.append(("blank", None))
            continue
        size = width if kind != "count" else draw(
            st.integers(1, width + 2).filter(lambda n: n != width))
        fields = draw(st.lists(_FIELD, min_size=size, max_size=size))
        if kind == "count" and size == 1 and fields[0] == "":
            fields = ["lonely"]
        if kind == "bytes":
            where = draw(st.integers(0, width - 1))
            fields[where] = fields[where] + _MARK
        records.append((kind, fields))
    return delimiter, ending, names, records, draw(st.booleans()), draw(st.booleans())


def _render(delimiter, ending, fields, quote_all=False) -> str:
    """One CSV record. (csv.writer leaves a lone \r unquoted, so it cannot serve here.)"""
    def field(text):
        needs = quote_all or any(c in text for c in (delimiter, '"', "\r", "\n"))
        return '"' + text.replace('"', '""') + '"' if needs or fields == [""] else text

    return delimiter.join(field(f) for f in fields) + ending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files(), st.integers(8, 300), st.integers(1, 7))
def test_every_csv_record_lands_exactly_once_at_its_line(tmp_path_factory, file, block, batch):
    delimiter, ending, names, records, final_newline, quote_all = file
    text = _render(delimiter, ending, names, quote_all)
    expected_good, expected_bad = [], {}
    for kind, fields in records:
        line = 1 + len(re.findall(r"\r\n|\r|\n", text))
        if kind == "blank":
            text += ending
            continue
        rendered = _render(delimiter, ending, fields, quote_all)
        if kind == "good":
            expected_good.append((fields, line))
        else:
            expected_bad[line] = (kind, fields, rendered[: -len(ending)])
        text += rendered
    if not final_newline and text.endswith(ending) and records and records[-1][0] != "blank":
        text = text[: -len(ending)]
    data = text.encode("utf-8").replace(_MARK.encode(), b"\xff")
    path = tmp_path_factory.mktemp("prop") / "p.csv"
    path.write_bytes(data)

    options = SourceOptions(delimiter=delimiter, encoding="utf-8", batch_rows=batch,
                            block_bytes=block)
    source, rows, bad = read_all(path, options)

    assert [([r[n] for n in names], r[LINE_COLUMN]) for r in rows] == expected_good
    assert sorted(b.line for b in bad) == sorted(expected_bad)
    for row in bad:
        kind, fields, rendered = expected_bad[row.line]
        if kind == "count":
            assert row.reason == f"expected {len(names)} fields, found {len(fields)}"
            assert row.raw == rendered
        else:
            assert row.column == names[next(i for i, f in enumerate(fields) if _MARK in f)]
            assert row.raw == rendered.replace(_MARK, "\ufffd")
    wanted = [line for _, line in expected_good[:5]]
    originals = {line: _render(delimiter, ending, f, quote_all)[: -len(ending)]
                 for f, line in expected_good[:5]}
    assert source.raw_rows(wanted) == originals


# -- JSON Lines ----------------------------------------------------------------------------


def test_jsonl_objects_become_text_rows_and_other_lines_bad_rows(tmp_path):
    lines = [
        '{"customer_id": "c1", "score": 9, "ok": true, "tags": ["a", "ب"]}',
        "",
        "[1, 2]",
        '{"customer_id": "c2", "score": 7.5, "meta": {"lang": "ru"}}',
        "{broken",
        '{"customer_id": null}',
    ]
    path = write_bytes(tmp_path / "f.jsonl", ("\n".join(lines) + "\n").encode())
    source, rows, bad = read_all(path)
    assert rows[0] == {"customer_id": "c1", "score": "9", "ok": "true", "tags": '["a","ب"]',
                       "meta": None, LINE_COLUMN: 1}
    assert rows[1]["score"] == "7.5" and rows[1]["meta"] == '{"lang":"ru"}'
    assert rows[1][LINE_COLUMN] == 4
    assert rows[2]["customer_id"] is None and rows[2][LINE_COLUMN] == 6
    assert [(b.line, b.raw) for b in bad] == [(3, "[1, 2]"), (5, "{broken")]
    assert "not a JSON object" in bad[0].reason
    assert source.raw_rows([4, 2]) == {4: lines[3]}


def test_jsonl_keys_first_seen_late_are_kept(tmp_path):
    lines = [json.dumps({"a": str(i)}) for i in range(30)] + ['{"a": "x", "late": "y"}']
    path = write_bytes(tmp_path / "late.ndjson", ("\n".join(lines)).encode())
    source, rows, _ = read_all(path, SourceOptions(block_bytes=64, batch_rows=10))
    assert "late" in source.columns
    assert rows[-1] == {"a": "x", "late": "y", LINE_COLUMN: 31}
    assert rows[0]["late"] is None


_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=5,
)
_JSON_LINE = st.one_of(
    st.tuples(st.just("object"), st.dictionaries(st.sampled_from("abcd"), _JSON_VALUE,
                                                 min_size=1, max_size=4)),
    st.tuples(st.just("not object"), st.lists(st.integers(), max_size=3)),
    st.tuples(st.just("broken"), st.just('{"a": ')),
    st.tuples(st.just("bytes"), st.just(b'{"a": "\xff"}')),
    st.tuples(st.just("blank"), st.sampled_from(["", "  ", "\r"])),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_JSON_LINE, min_size=1, max_size=30), st.integers(8, 200))
def test_every_json_line_lands_exactly_once_at_its_line(tmp_path_factory, lines, block):
    encoded, expected_rows, expected_bad = [], [], set()
    for number, (kind, value) in enumerate(lines, start=1):
        if kind == "bytes":
            encoded.append(value)
        else:
            text = value if kind in ("broken", "blank") else json.dumps(value, ensure_ascii=False)
            encoded.append(text.encode())
        if kind == "object":
            expected_rows.append((number, value))
        elif kind != "blank":
            expected_bad.add(number)
    if all(kind == "blank" for kind, _ in lines):
        encoded.append(b'{"a": 1}')
        expected_rows.append((len(encoded), {"a": 1}))
    path = tmp_path_factory.mktemp("jsonl") / "p.jsonl"
    path.write_bytes(b"\n".join(encoded))
    _, rows, bad = read_all(path, SourceOptions(block_bytes=block, batch_rows=3))
    assert [r[LINE_COLUMN] for r in rows] == [number for number, _ in expected_rows]
    assert {b.line for b in bad} == expected_bad and len(bad) == len(expected_bad)
    for row, (_, value) in zip(rows, expected_rows):
        for key, item in value.items():
            assert row[key] == (item if isinstance(item, str) or item is None
                                else json.dumps(item, ensure_ascii=False, separators=(",", ":")))


def test_json_array_file_is_refused_with_a_hint(tmp_path):
    path = write_bytes(tmp_path / "array.json", b'[{"a": 1}]')
    with pytest.raises(SourceFormatError, match="JSON Lines"):
        open_source(path)


# -- Parquet -------------------------------------------------------------------------------


def _parquet(tmp_path: Path, rows: int = 25) -> Path:
    table = pa.table({
        "customer_id": [f"c{i}" for i in range(rows)],
        "amount": [i * 1.5 for i in range(rows)],
        "count": pa.array(range(rows), pa.int32()),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=10)
    return path


def test_parquet_keeps_its_types_and_numbers_rows(tmp_path):
    source, rows, bad = read_all(_parquet(tmp_path), SourceOptions(batch_rows=8))
    batches = [t for t, _ in source.batches()]
    assert [t.num_rows for t in batches] == [8, 8, 8, 1]
    assert batches[0].schema.field("count").type == pa.int32()
    assert bad == []
    assert [r[LINE_COLUMN] for r in rows] == list(range(1, 26))
    assert source.raw_rows([12]) == {12: '{"customer_id": "c11", "amount": 16.5, "count": 11}'}


def test_truncated_parquet_is_a_source_format_error(tmp_path):
    path = _parquet(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SourceFormatError) as caught:
        read_all(path)
    assert_one_sentence_naming(caught.value, path)


# -- XES -----------------------------------------------------------------------------------


def _xes_bytes() -> bytes:
    namespace = {None: "http://www.xes-standard.org/"}
    log = etree.Element("log", {"xes.version": "1.0"}, nsmap=namespace)
    etree.SubElement(log, "extension", name="Concept", prefix="concept", uri="x")
    for number, (case, segment) in enumerate([("c1", "gold"), (None, "silver")]):
        trace = etree.SubElement(log, "trace")
        if case:
            etree.SubElement(trace, "string", key="concept:name", value=case)
        etree.SubElement(trace, "string", key="customer_segment", value=segment)
        for step in ("order", "pay"):
            event = etree.SubElement(trace, "event")
            etree.SubElement(event, "string", key="concept:name", value=f"{step}")
            etree.SubElement(event, "date", key="time:timestamp",
                             value=f"2024-05-0{number + 1}T10:00:00.000+02:00")
            etree.SubElement(event, "string", key="org:resource", value="Заира")
            etree.SubElement(event, "float", key="cost:total", value="12.5")
    return etree.tostring(log, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _event_lines(data: bytes) -> list[int]:
    return [n for n, text in enumerate(data.decode().splitlines(), 1) if "<event>" in text]


@pytest.mark.parametrize("name", ["log.xes", "log.xes.gz"])
def test_xes_round_trip(tmp_path, name):
    data = _xes_bytes()
    path = write_bytes(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    source, rows, bad = read_all(path)
    assert source.format == "xes"
    assert source.columns == ["case_id", "touchpoint", "timestamp", "org:resource",
                              "cost:total", "trace:customer_segment"]
    assert bad == []
    assert [(r["case_id"], r["touchpoint"], r["trace:customer_segment"]) for r in rows] == [
        ("c1", "order", "gold"), ("c1", "pay", "gold"),
        ("trace-2", "order", "silver"), ("trace-2", "pay", "silver"),
    ]
    assert rows[0]["timestamp"] == "2024-05-01T10:00:00.000+02:00"
    assert rows[0]["org:resource"] == "Заира" and rows[0]["cost:total"] == "12.5"
    assert [r[LINE_COLUMN] for r in rows] == _event_lines(data)
    third = rows[2][LINE_COLUMN]
    assert json.loads(source.raw_rows([third])[third])["case_id"] == "trace-2"


def test_broken_xes_names_file_line_and_column(tmp_path):
    data = _xes_bytes().decode()
    lines = data.splitlines()
    target = next(n for n, text in enumerate(lines) if "</event>" in text)
    lines[target] = lines[target].replace("</event>", "</evnt>")
    path = write_bytes(tmp_path / "broken.xes", "\n".join(lines).encode())
    with pytest.raises(SourceFormatError) as caught:
        read_all(path)
    message = assert_one_sentence_naming(caught.value, path)
    assert f"line {target + 1}, column" in message
    assert "not well-formed XML" in message


def test_xml_that_is_not_an_event_log_is_refused(tmp_path):
    path = write_bytes(tmp_path / "other.xes", b"<?xml version='1.0'?><html><body/></html>")
    with pytest.raises(SourceFormatError, match="not an XES event log"):
        read_all(path)


# -- hostile files: limits that keep a reader's memory bounded ------------------------------


def test_a_wide_csv_is_handed_on_in_batches_within_the_cell_budget(tmp_path):
    from corridor.sources import BATCH_CELLS

    width, rows = 500, 10_000
    lines = [",".join(f"h{i}" for i in range(width))]
    lines += [",".join(str(r) for _ in range(width)) for r in range(rows)]
    source = open_source(write_bytes(tmp_path / "wide.csv", ("\n".join(lines) + "\n").encode()))
    sizes = [table.num_rows for table, _ in source.batches()]
    assert sum(sizes) == rows
    assert max(sizes) * (width + 1) <= BATCH_CELLS


def test_sparse_json_lines_keys_do_not_multiply_into_a_huge_batch(tmp_path):
    from corridor.sources import BATCH_CELLS, MAX_COLUMNS

    keys = MAX_COLUMNS - 10
    lines = [json.dumps({"id": i, f"k{i % keys}": i}) for i in range(6_000)]
    source = open_source(write_bytes(tmp_path / "sparse.jsonl", ("\n".join(lines) + "\n").encode()))
    batches = [table for table, _ in source.batches()]
    assert sum(t.num_rows for t in batches) == 6_000
    assert max(t.num_rows * t.num_columns for t in batches) <= BATCH_CELLS + keys + 2


def test_bad_rows_are_handed_on_as_they_come_not_all_at_the_end(tmp_path):
    data = b"a,b,c\n" + b"1,2\n" * 250_000
    options = SourceOptions(batch_rows=100_000, block_bytes=1 << 16)  # 16,384 lines a block
    source = open_source(write_bytes(tmp_path / "bad.csv", data), options)
    counts = [len(bad) for _, bad in source.batches()]
    assert sum(counts) == 250_000 and max(counts) <= 100_000 + (1 << 14)


def test_a_parquet_file_wider_than_the_column_limit_stops_with_one_sentence(tmp_path):
    from corridor.sources import MAX_COLUMNS

    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": [i] for i in range(MAX_COLUMNS + 1)}), path)
    with pytest.raises(SourceFormatError) as error:
        open_source(path)
    assert f"{MAX_COLUMNS + 1:,} columns" in assert_one_sentence_naming(error.value, path)


def test_a_second_byte_order_mark_does_not_stick_to_the_first_column_name(tmp_path):
    data = "\ufeff\ufeff".encode() + b"customer_id,x\nc1,1\n"
    source, rows, _ = read_all(write_bytes(tmp_path / "bombom.csv", data))
    assert source.columns == ["customer_id", "x"] and rows[0]["customer_id"] == "c1"


def test_a_file_name_that_is_not_utf8_is_refused_with_one_sentence(tmp_path):
    path = tmp_path / "caf\udce9.csv"  # the Latin-1 byte 0xE9 in a UTF-8 file system
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(SourceFormatError) as error:
        open_source(path)
    message = str(error.value)
    assert "caf\\xe9.csv" in message and "\n" not in message


def test_control_characters_in_names_are_escaped_in_reader_messages(tmp_path):
    path = write_bytes(tmp_path / "esc\x1b[2J.csv", b"a\x1b]0;x\x07,a\x1b]0;x\x07\n1,2\n")
    with pytest.raises(SourceFormatError) as error:
        open_source(path)
    message = str(error.value)
    assert "\x1b" not in message and "\x07" not in message
    assert "esc\\x1b[2J.csv" in message and "a\\x1b]0;x\\x07" in message


def test_a_parquet_row_longer_than_the_record_limit_fails_only_that_row(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": ["c1", "c2"], "note": ["x" * 5000, "ok"]}), path)
    _, rows, bad = read_all(path, SourceOptions(max_record_bytes=1000))
    assert [r["id"] for r in rows] == ["c2"]
    assert [(b.line, b.reason) for b in bad] == [
        (1, "the row is longer than the limit of 1,000 bytes")]
