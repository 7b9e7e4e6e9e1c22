"""The company model: read from TOML with one-sentence errors, kept in the project, shown
by `corridor info`, and what the analytics read instead of the demo's planted truths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from corridor import company
from corridor.company import DEFAULT_MODEL, JourneyKind, Kpi, parse_model
from corridor.errors import InputError
from corridor.journey_types import case_journeys, journey_kpis
from corridor.store import Project

from helpers import canonical_events, run_cli, write

MODEL = """
currency = "EUR"
timezone = "Europe/Moscow"

[[journeys]]
name = "purchase"
start_stages = ["need", "evaluation"]
goal = "paid"

[[journeys]]
name = "support"
kind = "service"
start = ["hotline"]

[service_hours]
phone = "09:00-21:00"

[waits]
default = "10min"
install = "3d"

[bad_experience]
ces_below = false
failed_outcomes = ["failed", "abandoned"]

[labels.touchpoints.hotline]
en = "Hotline"
ru = "Горячая линия"
"""


def test_a_model_file_reads_into_typed_parts():
    model = parse_model(MODEL, "model.toml")
    purchase, support = model.journeys
    assert purchase.kind is JourneyKind.PURCHASE and purchase.goal == ("paid",)
    assert purchase.kpis == (Kpi.CONVERSION,)
    assert support.kpis == (Kpi.RESOLUTION, Kpi.FIRST_CONTACT_RESOLUTION)
    assert support.resolved_by_outcome
    assert model.purchase_goal == ("paid",)
    assert model.hours_of("phone").days[0].opens.hour == 9 and model.timezone == "Europe/Moscow"
    assert str(model.hours_of("phone")) == "mon-sun 09:00-21:00"
    assert model.waits.of("install") == 3 * 86400 and model.waits.of("other") == 600
    assert dict(model.bad_experience.score_below) == {"nps": 7.0, "csat": 3.0}
    assert model.labels.name("touchpoints", "hotline", "ru") == "Горячая линия"
    assert model.labels.name("touchpoints", "hotline", "ar") == "Hotline"  # English stands in
    assert model.labels.name("touchpoints", "paid", "ru") is None
    assert model.declared and model.defaults() == ()


def test_no_model_says_which_defaults_it_used():
    assert not DEFAULT_MODEL.declared and DEFAULT_MODEL.journeys == ()
    said = " ".join(DEFAULT_MODEL.defaults())
    assert "No journey types are declared" in said and "15 minutes" in said


@pytest.mark.parametrize("text, words", [
    ("currency = ", "not valid TOML"),
    ("[[journeys]]\nname = 'x'\nkind = 'servic'\nstart = ['a']", "journey 'x': kind 'servic' is not one of purchase, service"),
    ("[[journeys]]\nname = 'x'\nstart = ['a']", "purchase journey without a goal"),
    ("[[journeys]]\nname = 'x'\ngoal = 'b'", "neither start touchpoints"),
    ("[[journeys]]\nname = 'x'\nstart_stages = ['shopping']\ngoal = 'b'", "'shopping' is not one of need"),
    ("[service_hours]\nphone = '8 to 10'", "[service_hours] phone: must be opening hours"),
    ("[service_hours]\nstore = { weekdays = '09:00-20:00' }", "'weekdays' is not a day or a span"),
    ("[service_hours]\nstore = { fri-mon = '09:00-20:00' }", "'fri-mon' runs backwards"),
    ("[service_hours]\nstore = { sat = '18:00-09:00' }", "[service_hours] store sat: '18:00-09:00' closes before"),
    ("[waits]\ninstall = 'soon'", "[waits] install: must be a duration"),
    ("timezone = 'Mars/Olympus'", "timezone: 'Mars/Olympus' is not a time zone"),
    ("currency = 'euro'", "three-letter ISO 4217"),
    ("colour = 'red'", "unknown key 'colour'"),
    ("[labels.touchpoints.a]\nfr = 'Achat'", "'fr' is not one of en, ar, ru"),
])
def test_a_bad_model_is_one_sentence_naming_the_file_and_place(text, words):
    with pytest.raises(InputError) as caught:
        parse_model(text, "model.toml")
    message = str(caught.value)
    assert message.startswith("model.toml") and words in message and "\n" not in message


def _project_with_events(tmp_path: Path) -> Path:
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("INSERT INTO touchpoints (touchpoint, stage) VALUES"
                      " ('ad', 'need'), ('paid', 'use'), ('hotline', 'support')")
    return path


def test_configure_keeps_the_model_in_the_project_and_info_shows_it(tmp_path):
    project = _project_with_events(tmp_path)
    model_file = write(tmp_path / "model.toml", MODEL.replace('install = "3d"', 'paid = "3d"'))
    proc = run_cli("configure", project, model_file)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(run_cli("info", project, "--json").stdout)
    assert info["model"]["declared"] and [j["name"] for j in info["model"]["journeys"]] == ["purchase", "support"]
    text = run_cli("info", project).stdout
    assert "journey support (service)" in text and "phone open mon-sun 09:00-21:00" in text
    with Project.open(project, read_only=True) as p:
        assert company.company_model(p).source.strip() == MODEL.replace('install = "3d"', 'paid = "3d"').strip()
        assert company.company_goal(p) == ("paid",)
        actions = [r[0] for r in p.con.execute("SELECT action FROM audit_log").fetchall()]
    assert "model.configure" in actions


def test_configure_refuses_a_touchpoint_the_project_does_not_have_and_keeps_the_old_model(tmp_path):
    project = _project_with_events(tmp_path)
    good = write(tmp_path / "good.toml", MODEL.replace('install = "3d"', ""))
    assert run_cli("configure", project, good).returncode == 0
    bad = write(tmp_path / "bad.toml", MODEL.replace('goal = "paid"', 'goal = "payd"'))
    proc = run_cli("configure", project, bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'payd' is not in the project; nearest known: paid" in proc.stderr
    with Project.open(project, read_only=True) as p:
        assert company.company_goal(p) == ("paid",)


def test_a_project_without_a_model_uses_the_defaults(tmp_path):
    project = _project_with_events(tmp_path)
    with Project.open(project, read_only=True) as p:
        assert company.company_model(p) is DEFAULT_MODEL and company.company_goal(p) is None
    assert "Company model: none" in run_cli("info", project).stdout


def test_cases_get_the_first_journey_type_that_recognises_their_first_touchpoint(engine):
    model = parse_model(MODEL)
    minutes = pd.Timestamp("2025-01-01")
    rows = [("a", "ad", 0), ("a", "paid", 5),            # purchase, converts
            ("b", "ad", 0), ("b", "hotline", 9),         # purchase (starts at need), drops
            ("c", "hotline", 0),                         # support, one contact, ok
            ("d", "hotline", 0), ("d", "hotline", 1),    # support, two contacts
            ("e", "paid", 0)]                            # starts at use: no type
    events = canonical_events(pd.DataFrame({
        "case_id": [r[0] for r in rows], "customer_id": [r[0] for r in rows],
        "touchpoint": [r[1] for r in rows],
        "timestamp": [minutes + pd.Timedelta(minutes=r[2]) for r in rows],
        "outcome": ["ok"] * 7 + ["ok"],
    }))
    events.loc[(events.case_id == "d") & (events.touchpoint == "hotline"), "outcome"] = ["failed", "ok"]
    touchpoints = pd.DataFrame({"touchpoint": ["ad", "paid", "hotline"], "stage": ["need", "use", "support"]})
    ev, tp = engine.table("events", events), engine.table("touchpoints", touchpoints)
    typed = dict(case_journeys(ev, model, tp).execute().itertuples(index=False))
    assert typed["a"] == typed["b"] == "purchase" and typed["c"] == typed["d"] == "support"
    assert typed["e"] is None or pd.isna(typed["e"])
    kpis = journey_kpis(ev, model, touchpoints=tp)
    assert (kpis.cases, kpis.unclassified_cases) == (5, 1)
    purchase, support = kpis.of("purchase"), kpis.of("support")
    assert (purchase.cases, purchase.reached_goal, purchase.conversion) == (2, 1, 0.5)
    assert purchase.resolution is None and support.conversion is None
    assert (support.cases, support.resolved, support.resolved_at_first_contact) == (2, 2, 1)
    assert support.first_contact_resolution == 0.5 and support.resolved_by == "last contact ok"


def test_nothing_in_the_product_reads_the_demos_planted_truths():
    """Only the demo writes them (and the tables lists know they exist); the analytics
    read the company model."""
    source = Path(company.__file__).parent
    readers = []
    for module in source.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        if re.search(r"(FROM|JOIN)\s+planted_truths", text, re.IGNORECASE):
            readers.append(module.name)
    assert readers == ["showcase.py"]  # it checks whether a project is its own demo


def test_names_come_from_the_model_then_the_reference_files_and_never_name_a_person(tmp_path):
    from corridor.company import Labeller, project_labels
    from corridor.ingest import ingest_file

    project = tmp_path / "names.duckdb"
    with Project.create(project) as p:
        ingest_file(p, "touchpoints", write(tmp_path / "tp.csv",
                    "touchpoint,stage,name,name_ar,name_ru\n"
                    "paid,use,First bill,الفاتورة الأولى,Первый счёт\n"
                    "hotline,support,Hotline,,\n"))
        ingest_file(p, "departments", write(tmp_path / "dep.csv",
                    "department_id,name,name_ru\nD-CC,Customer Care,Служба поддержки\n"))
        ingest_file(p, "customers", write(tmp_path / "cu.csv",
                    "customer_id,level,name\nR1,intermediary,ElectroMart\nP1,person,Ana Lima\n"))
        company.configure(p, parse_model(
            '[labels.touchpoints.hotline]\nru = "Горячая линия"\n', "m.toml"))
        labels = project_labels(p)
    ru, ar = Labeller(labels, "ru"), Labeller(labels, "ar")
    assert ru.tp("paid") == "Первый счёт" and ar.tp("paid") == "الفاتورة الأولى"
    assert ru.tp("hotline") == "Горячая линия" and ar.tp("hotline") == "Hotline"
    assert ru.dept("D-CC") == "Служба поддержки" and ar.dept("D-CC") == "Customer Care"
    assert ru.tp("unknown_code") == "unknown_code"  # never blank
    with Project.open(project, read_only=True) as p:
        ids = dict(p.con.execute("SELECT level, customer_id FROM customers").fetchall())
    assert ru.customer(ids["intermediary"]) == "ElectroMart"
    assert ru.customer(ids["person"]) == ids["person"]  # a person's name is personal data


def test_service_hours_take_a_range_per_weekday_and_a_day_not_named_is_closed():
    model = parse_model('[service_hours]\nstore = { mon-fri = "09:00-20:00", sat = "10:00-16:00" }\n'
                        'phone = "08:00-24:00"\n')
    store, phone = model.hours_of("store"), model.hours_of("phone")
    assert str(store) == "mon-fri 09:00-20:00, sat 10:00-16:00, sun closed"
    assert store.days[6] is None and store.to_dict()["days"]["sat"] == "10:00-16:00"
    assert str(phone) == "mon-sun 08:00-24:00"


def test_service_hours_of_the_model_judge_each_channel_in_its_time_zone(engine):
    from corridor.access import accessibility
    from corridor.company import channel_hours

    model = parse_model('timezone = "Europe/Moscow"\n[service_hours]\nphone = "08:00-22:00"\n'
                        'store = { mon-fri = "09:00-20:00" }\n')
    day = pd.Timestamp("2025-03-05")  # a Wednesday; Moscow is UTC+3 all year
    rows = [("a", "phone", 7), ("b", "phone", 20), ("c", "phone", 4), ("d", "web", 3),
            ("e", "store", 9), ("f", "store", 4 * 24 + 9)]  # Wednesday and Sunday noon
    events = canonical_events(pd.DataFrame({
        "case_id": [r[0] for r in rows], "touchpoint": ["contact"] * len(rows),
        "channel": [r[1] for r in rows],
        "timestamp": [day + pd.Timedelta(hours=r[2]) for r in rows]}))
    result = accessibility(engine.table("events", events), channel_hours=channel_hours(model))
    outside = {g.channel: g.outside_hours for g in result.groups}
    # 10:00 Moscow is open; 23:00 and 07:00 are not; the web has no declared hours; the
    # store is closed on Sundays
    assert outside == {"phone": 2, "web": 0, "store": 1}
    assert result.to_dict()["channel_hours"]["phone"]["utc_offset_minutes"] == 180
