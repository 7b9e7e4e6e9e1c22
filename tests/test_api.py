"""The JSON API: tokens, the OpenAPI document, answers equal to the library's, scopes and
personal data per role, and schemathesis against the document once per role."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from fastapi.testclient import TestClient
import hypothesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from corridor.accounts import Role, add_user, disable_user
from corridor.cli import main
from corridor.incidents import open_incident
from corridor.store import Project
from corridor.tokens import create_token, list_tokens, revoke_token
from corridor.web import compute_overview
from corridor.web_filters import PageFilters
from test_web import login, web_app

PASSWORD = "api test password 1"
EXAMPLES = 4  # generated requests per operation, generation mode and role
USER_OF = {r.value: f"api-{r.value.replace('_', '-')}" for r in Role}


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    """A copy of the demo project with an account and a token per role."""
    project = tmp_path_factory.mktemp("api") / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        department, own = p.con.execute(
            "SELECT department_id, touchpoint FROM touchpoints WHERE department_id IS NOT NULL"
            " ORDER BY department_id, touchpoint LIMIT 1").fetchone()
        other = p.con.execute(
            "SELECT touchpoint FROM touchpoints WHERE department_id IS NOT NULL"
            " AND department_id <> ? ORDER BY touchpoint LIMIT 1", [department]).fetchone()[0]
        for role in Role:
            add_user(p, USER_OF[role.value], role, password=PASSWORD, actor="test",
                     department_id=department if role is Role.DEPARTMENT_HEAD else None)
        tokens = {role.value: create_token(p, USER_OF[role.value], "tests").token
                  for role in Role}
        open_incident(p, "Queue at the counter", touchpoint=own)
    return {"project": project, "tokens": tokens, "own": own, "other": other,
            "department": department}


@pytest.fixture(scope="module")
def api_app(world):
    return web_app(world["project"], strict_i18n=True)


@pytest.fixture(scope="module")
def api(api_app):
    with TestClient(api_app) as client:
        yield client


def bearer(world, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][role]}"}


def test_the_openapi_document_describes_every_api_route_and_the_bearer_scheme(api, api_app):
    document = api.get("/api/v1/openapi.json").json()
    described = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    served = {(m, r.path) for r in api_app.routes if r.path.startswith("/api/v1/")
              and r.path != "/api/v1/openapi.json" for m in r.methods - {"HEAD"}}
    assert described == served
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert all(not p.startswith("/api/") or p.startswith("/api/v1/") for p in document["paths"])
    assert not any(p in document["paths"] for p in ("/", "/login", "/actions"))


def test_a_token_gets_the_same_overview_the_library_computes(api, world):
    answer = api.get("/api/v1/overview", headers=bearer(world, "staff"))
    assert answer.status_code == 200
    expected = compute_overview(world["project"], PageFilters())
    body = answer.json()
    assert (body["cases"], body["events"], body["variants"]) == (
        expected.cases, expected.events, expected.variants)
    assert tuple(body["basic"]) == expected.basic


def test_filters_apply_and_a_bad_filter_is_one_json_sentence(api, world):
    with Project.open(world["project"], read_only=True) as p:
        channel = p.con.execute("SELECT min(channel) FROM touchpoints").fetchone()[0]
    everyone = api.get("/api/v1/overview", headers=bearer(world, "analyst")).json()
    one_channel = api.get("/api/v1/overview", params={"channel": channel},
                          headers=bearer(world, "analyst")).json()
    assert 0 < one_channel["cases"] < everyone["cases"]
    bad = api.get("/api/v1/overview?level=planet", headers=bearer(world, "analyst"))
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/json")
    assert "planet" in bad.json()["detail"] and "Traceback" not in bad.text


def test_a_signed_in_browser_session_is_not_an_api_login(api_app, world):
    with TestClient(api_app) as browser:
        login(browser)
        assert browser.get("/").status_code == 200
        refused = browser.get("/api/v1/overview")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_or_a_disabled_account_is_refused(api, world):
    with Project.open(world["project"]) as p:
        add_user(p, "api-short-lived", Role.ANALYST, password=PASSWORD, actor="test")
        kept = create_token(p, "api-short-lived")
        revoked = create_token(p, "api-short-lived")
    headers = {"Authorization": f"Bearer {revoked.token}"}
    assert api.get("/api/v1/incidents", headers=headers).status_code == 200
    with Project.open(world["project"]) as p:
        revoke_token(p, revoked.info.token_id)
    assert api.get("/api/v1/incidents", headers=headers).status_code == 401
    headers = {"Authorization": f"Bearer {kept.token}"}
    assert api.get("/api/v1/incidents", headers=headers).status_code == 200
    with Project.open(world["project"]) as p:
        disable_user(p, "api-short-lived")
    assert api.get("/api/v1/incidents", headers=headers).status_code == 401
    assert api.get("/api/v1/incidents",
                   headers={"Authorization": "Bearer crd_made-up"}).status_code == 401


def test_the_project_keeps_only_a_hash_of_each_token(world):
    with Project.open(world["project"], read_only=True) as p:
        stored = {r[0] for r in p.con.execute("SELECT token_hash FROM api_tokens").fetchall()}
        listed = list_tokens(p)
    assert not stored & set(world["tokens"].values())
    assert all(len(t.token_id) == 12 for t in listed)
    raw = world["project"].read_bytes()
    assert all(token.encode() not in raw for token in world["tokens"].values())


def test_quotes_reach_only_roles_allowed_personal_data(api, world):
    def quotes(role: str) -> int:
        body = api.get("/api/v1/personas", headers=bearer(world, role)).json()
        return sum(len(m["says"]) for m in body["maps"].values()) + sum(
            len(p["quotes"]) for p in (body["personas"] or {}).get("personas", []))

    assert quotes("manager") > 0
    assert quotes("staff") == 0 and quotes("department_head") == 0


def test_a_department_head_writes_only_to_their_departments_incidents(api, world):
    head = bearer(world, "department_head")
    elsewhere = api.post("/api/v1/incidents", headers=head,
                         json={"title": "Not mine", "touchpoint": world["other"]})
    assert elsewhere.status_code == 403
    mine = api.post("/api/v1/incidents", headers=head,
                    json={"title": "Long wait at the counter", "touchpoint": world["own"]})
    assert mine.status_code == 201, mine.text
    incident = mine.json()["incident_id"]
    why = api.post(f"/api/v1/incidents/{incident}/whys", headers=head,
                   json={"statement": "One clerk on shift", "root_cause": True})
    assert why.status_code == 201
    action = api.post(f"/api/v1/incidents/{incident}/actions", headers=head,
                      json={"title": "Second clerk at peak", "kind": "preventive",
                            "owner_department_id": world["department"], "due": "2031-01-31",
                            "why_id": why.json()["why_id"]})
    assert action.status_code == 201, action.text
    done = api.patch(f"/api/v1/actions/{action.json()['action_id']}", headers=head,
                     json={"status": "done"})
    assert done.status_code == 200 and done.json()["completed_at"]
    shown = api.get(f"/api/v1/incidents/{incident}", headers=bearer(world, "staff")).json()
    assert shown["whys"][0]["statement"] == "One clerk on shift"
    assert shown["actions"][0]["status"] == "done"
    log = api.get("/api/v1/audit?limit=10", headers=bearer(world, "admin")).json()
    mine_logged = [e for e in log if e["actor"] == USER_OF["department_head"]]
    assert {e["action"] for e in mine_logged} >= {"incident.open", "why.add", "action.add",
                                                  "action.update"}
    assert all(e["detail"]["via"] == "api" for e in mine_logged)


def test_an_analyst_loads_a_file_through_the_api_and_a_broken_one_is_refused(api, world):
    with Project.open(world["project"], read_only=True) as p:
        customer, touchpoint = p.con.execute(
            "SELECT customer_id, touchpoint FROM events LIMIT 1").fetchone()
    rows = (f"case_id,customer_id,touchpoint,timestamp\n"
            f"API-1,{customer},{touchpoint},2031-01-05T10:00:00\n"
            f"API-1,{customer},{touchpoint},not a time\n")
    loaded = api.post("/api/v1/loads", headers=bearer(world, "analyst"),
                      data={"kind": "events"},
                      files={"file": ("api-events.csv", rows.encode(), "text/csv")})
    assert loaded.status_code == 201, loaded.text
    assert (loaded.json()["accepted"], loaded.json()["rejected"]) == (1, 1)
    refused = api.post("/api/v1/loads", headers=bearer(world, "analyst"),
                       data={"kind": "events", "max_reject_rate": "0"},
                       files={"file": ("bad.csv", rows.replace("API-1", "API-2").encode())})
    assert refused.status_code == 400 and "rejected" in refused.json()["detail"]
    climbing = api.post("/api/v1/loads", headers=bearer(world, "analyst"),
                        data={"kind": "events"},
                        files={"file": ("../../escape.csv", rows.replace("API-1", "API-3"))})
    assert climbing.status_code == 201, climbing.text
    assert not any((world["project"].parents[i] / "escape.csv").exists() for i in range(2))
    nameless = api.post("/api/v1/loads", headers=bearer(world, "analyst"),
                        data={"kind": "events"},
                        files={"file": ("..", rows.replace("API-1", "API-4").encode())})
    assert nameless.status_code == 400 and "format" in nameless.json()["detail"]
    manager = api.post("/api/v1/loads", headers=bearer(world, "manager"),
                       data={"kind": "events"}, files={"file": ("x.csv", rows.encode())})
    assert manager.status_code == 403


def test_an_unknown_incident_is_a_json_404(api, world):
    answer = api.get("/api/v1/incidents/999999", headers=bearer(world, "staff"))
    assert answer.status_code == 404 and "999999" in answer.json()["detail"]


def test_the_token_commands_make_list_and_revoke_tokens(world, capsys):
    project = str(world["project"])
    assert main(["token", "create", project, USER_OF["analyst"], "--label", "nightly"]) == 0
    made = capsys.readouterr().out
    token = made.strip().rsplit(" ", 1)[1]
    assert token.startswith("crd_")
    assert main(["token", "list", project, "--user", USER_OF["analyst"]]) == 0
    listed = capsys.readouterr().out
    assert "nightly" in listed and token not in listed
    token_id = made.split()[1]
    assert main(["token", "revoke", project, token_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["token", "revoke", project, "not-an-id"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["token", "create", project, "nobody-here"]) == 2


# ---- schemathesis: the document against the running app, once per role -------------------


def fuzz(api_app, headers: dict[str, str], examples: int, seed: int = 0) -> dict[str, int]:
    """Every operation of the OpenAPI document fuzzed by schemathesis against the running
    app with ``headers``, ``examples`` requests per operation in each generation mode
    (requests the document accepts, and requests it refuses), every answer validated by
    every check schemathesis has; returns the requests sent per mode (a failure raises)."""
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api_app)
    schema.config.update(headers=headers)  # the token, as a client would configure it

    @schema.hook
    def filter_query(ctx, query):
        # the document says in words that `to` may not be before `from` (a rule JSON
        # Schema cannot state across two parameters); valid requests keep to it
        if ctx.operation is None or not query or "from" not in query or "to" not in query:
            return True
        try:
            return str(query["from"]) <= str(query["to"])
        except TypeError:
            return True
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    sent = {mode.value: 0 for mode in GenerationMode}
    for operation in operations:
        for mode in GenerationMode:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=seed == 0,
                      database=None, suppress_health_check=list(HealthCheck))
            def check(case):
                sent[mode.value] += 1
                if operation.path == "/api/v1/loads":
                    # a file the schema allows (any bytes) is loadable only if its content
                    # is a table: the one refusal a document cannot rule out, 400 with
                    # the reason; every other check still runs
                    answer = case.call_and_validate(excluded_checks=[positive_data_acceptance])
                    assert answer.status_code != 400 or answer.json()["detail"].endswith(".")
                else:
                    case.call_and_validate()

            if seed:
                check = hypothesis.seed(seed)(check)
            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                # an operation without parameters or body has no invalid request to make
                assert mode is GenerationMode.NEGATIVE
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("role", [r.value for r in Role])
def test_generated_requests_pass_every_schemathesis_check_for_every_role(role, api_app, world):
    """Every operation of the OpenAPI document, fuzzed by schemathesis with ``role``'s
    token: no answer is a server error, and every answer passes every check (status code,
    content type, headers and schema as documented, valid requests accepted, invalid ones
    refused)."""
    sent = fuzz(api_app, bearer(world, role), EXAMPLES)
    assert sent["positive"] > 0 and sent["negative"] > 0
