"""Schema 6: events get a lifecycle column; events an XES load stored before keep their
lifecycle:transition, moved out of attributes so that they equal the same rows loaded
now."""

from __future__ import annotations

from corridor.schema import SCHEMA_VERSION
from corridor.store import Project


def test_schema_5_events_move_their_xes_lifecycle_from_attributes_to_its_column(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("ALTER TABLE events DROP COLUMN lifecycle")
        p.con.execute("""INSERT INTO events (customer_id, case_id, touchpoint, timestamp,
                attributes, load_id, seq) VALUES
            ('c', 'c', 'a', TIMESTAMP '2024-01-01 10:00', '{"org:resource":"112","lifecycle:transition":"START"}', 1, 1),
            ('c', 'c', 'a', TIMESTAMP '2024-01-01 11:00', '{"lifecycle:transition":"COMPLETE"}', 1, 2),
            ('c', 'c', 'b', TIMESTAMP '2024-01-01 12:00', '{"org:resource":"7"}', 1, 3),
            ('c', 'c', 'b', TIMESTAMP '2024-01-01 13:00', NULL, 1, 4)""")
        p.con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with Project.open(path, read_only=True) as p:
        assert p.schema_version == SCHEMA_VERSION
        rows = p.con.execute("SELECT lifecycle, attributes FROM events ORDER BY seq").fetchall()
    assert rows == [("START", '{"org:resource":"112"}'), ("COMPLETE", None),
                    (None, '{"org:resource":"7"}'), (None, None)]


def test_a_new_project_has_the_lifecycle_column(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        assert "lifecycle" in p.table("events").columns
