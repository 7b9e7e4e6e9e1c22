"""Who may do what in the web app: an authorisation matrix built from the app's own route
table (every route × every role × anonymous; a route missing from the table fails), and
sessions, CSRF and login throttling checked with a frozen clock."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from corridor.accounts import Role, add_user, disable_user, set_role
from corridor.incidents import add_action, open_incident
from corridor.store import Project
from corridor.tokens import create_token
from corridor.web import create_app
from test_web import TEST_SECRET, csrf_from

PASSWORD = "matrix password 123"
IDENTITIES = ("anonymous", *(r.value for r in Role))
USER_OF = {r.value: f"{r.value.replace('_', '-')}-user" for r in Role}


class FrozenClock:
    """A monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    """A copy of the demo project with one account per role; the department head's
    department, one of its touchpoints, a touchpoint of another department, and an
    incident on each."""
    project = tmp_path_factory.mktemp("authorisation") / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        rows = p.con.execute(
            "SELECT department_id, touchpoint FROM touchpoints WHERE department_id IS NOT NULL"
            " ORDER BY department_id, touchpoint").fetchall()
        department = rows[0][0]
        own = next(tp for d, tp in rows if d == department)
        other = next(tp for d, tp in rows if d != department)
        for role in Role:
            add_user(p, USER_OF[role.value], role, password=PASSWORD, actor="test",
                     department_id=department if role is Role.DEPARTMENT_HEAD else None)
        own_incident = open_incident(p, "Queue at the own counter", touchpoint=own).incident_id
        other_incident = open_incident(p, "Queue elsewhere", touchpoint=other).incident_id
        own_action = add_action(p, own_incident, "Open a second counter", kind="corrective",
                                owner_department_id=department, due="2030-01-31").action_id
        tokens = {role.value: create_token(p, USER_OF[role.value]).token for role in Role}
    return {"project": project, "department": department, "own": own, "other": other,
            "own_incident": own_incident, "other_incident": other_incident,
            "own_action": own_action, "tokens": tokens}


def make_app(world, clock=None, **options):
    return create_app(world["project"], secret=TEST_SECRET, strict_i18n=True,
                      clock=clock or FrozenClock(), **options)


def sign_in(client: TestClient, user: str, password: str = PASSWORD):
    form = client.get("/login")
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": csrf_from(form.text)},
                       follow_redirects=False)


def client_for(app, identity: str, number: int = 1) -> TestClient:
    """A client from its own address, signed in as ``identity``'s user (or anonymous)."""
    client = TestClient(app, base_url="http://testserver", client=(f"10.0.{number}.1", 4000))
    if identity != "anonymous":
        assert sign_in(client, USER_OF[identity]).status_code == 303
    return client


# ---- the matrix --------------------------------------------------------------------------

LOGIN, NO, OK, BAD = 303, 403, 200, 400


def row(anonymous, staff, head, manager, analyst, admin) -> dict[str, int]:
    return dict(zip(IDENTITIES, (anonymous, staff, head, manager, analyst, admin)))


EVERYONE = row(OK, OK, OK, OK, OK, OK)
AGGREGATES = row(LOGIN, OK, OK, OK, OK, OK)
EDIT = row(LOGIN, NO, BAD, BAD, BAD, BAD)  # BAD: allowed, then the empty form is refused

# (method, path) -> identity -> expected status. POSTs carry the identity's own CSRF token
# and a form that is allowed but incomplete (so nothing is written): a wrong password for
# /login, a touchpoint of the department head's department and no title for a new
# incident, no statement for a why on an incident of that department.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): row(401, 401, 401, 401, 401, 401),
    ("POST", "/logout"): row(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN),
    ("GET", "/"): AGGREGATES,
    ("GET", "/customers"): AGGREGATES,
    ("GET", "/experience"): AGGREGATES,
    ("GET", "/map"): AGGREGATES,
    ("GET", "/flow"): AGGREGATES,
    ("GET", "/funnel"): AGGREGATES,
    ("GET", "/journey"): AGGREGATES,
    ("GET", "/departments"): AGGREGATES,
    ("GET", "/personas"): AGGREGATES,
    ("GET", "/actions"): AGGREGATES,
    ("POST", "/actions/incidents"): EDIT,
    ("POST", "/actions/incidents/{incident_id}/whys"): EDIT,
    ("GET", "/audit"): row(LOGIN, NO, NO, NO, NO, OK),
    ("GET", "/static"): EVERYONE,
}

# The JSON API: a token per identity (none for anonymous), never a cookie. Writes carry an
# empty body, which an allowed role gets refused as incomplete (422).
API_READ = row(401, OK, OK, OK, OK, OK)
API_EDIT = row(401, NO, 422, 422, 422, 422)
MATRIX |= {
    ("GET", "/api/v1/openapi.json"): EVERYONE,
    **{("GET", f"/api/v1/{name}"): API_READ
       for name in ("overview", "map", "flow", "funnel", "journey", "customers",
                    "experience", "personas", "departments", "incidents",
                    "incidents/{incident_id}")},
    ("POST", "/api/v1/incidents"): API_EDIT,
    ("POST", "/api/v1/incidents/{incident_id}/whys"): API_EDIT,
    ("POST", "/api/v1/incidents/{incident_id}/actions"): API_EDIT,
    ("PATCH", "/api/v1/actions/{action_id}"): API_EDIT,
    ("GET", "/api/v1/audit"): row(401, NO, NO, NO, NO, OK),
    ("GET", "/api/v1/maturity"): row(401, NO, NO, OK, OK, OK),  # as the maturity page
    ("POST", "/api/v1/loads"): row(401, NO, NO, NO, 422, 422),
}

# ---- the academy and the maturity assessment (web_academy) ----
# Module 1 is in every track; the POSTs carry an empty form, which an allowed role gets
# refused as incomplete (400).
MATRIX |= {
    ("GET", "/academy"): AGGREGATES,
    ("GET", "/academy/{number}"): AGGREGATES,
    ("POST", "/academy/{number}/read"): row(LOGIN, BAD, BAD, BAD, BAD, BAD),
    ("POST", "/academy/{number}/exercise"): row(LOGIN, BAD, BAD, BAD, BAD, BAD),
    ("POST", "/academy/{number}/quiz"): row(LOGIN, BAD, BAD, BAD, BAD, BAD),
    ("GET", "/maturity"): row(LOGIN, NO, NO, OK, OK, OK),
    ("POST", "/maturity"): row(LOGIN, NO, NO, BAD, BAD, BAD),
}
# ---- end of the academy block ----


def app_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, from its own route table."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path))
            continue
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path))
    return found


def request(client: TestClient, world, method: str, path: str, identity: str):
    url = (path.replace("{incident_id}", str(world["own_incident"]))
           .replace("{action_id}", str(world["own_action"])).replace("{number}", "1"))
    if path == "/static":
        url = "/static/corridor.css"
    if path.startswith("/api/"):
        token = world["tokens"].get(identity)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.request(method, url, headers=headers,
                              json=None if method == "GET" else {}, follow_redirects=False)
    if method == "GET":
        return client.get(url, follow_redirects=False)
    token = csrf_from(client.get("/login").text)
    form = {"csrf_token": token}
    if path == "/login":
        form |= {"username": f"nobody-{identity}", "password": "not the password"}
    elif path == "/actions/incidents":
        form |= {"touchpoint": world["own"], "title": ""}
    elif path.endswith("/whys"):
        form |= {"statement": ""}
    return client.post(url, data=form, follow_redirects=False)


def test_every_route_of_the_app_is_in_the_authorisation_matrix(world):
    routes = app_routes(make_app(world))
    assert sorted(set(routes) - set(MATRIX)) == [], "routes missing from MATRIX"
    assert sorted(set(MATRIX) - set(routes)) == [], "MATRIX names routes the app lacks"


def test_every_route_answers_every_role_and_anonymous_as_the_matrix_says(world):
    app = make_app(world)
    clients = {identity: client_for(app, identity, n) for n, identity in enumerate(IDENTITIES)}
    wrong = []
    # logout last: it ends the session the other requests use
    for method, path in sorted(app_routes(app), key=lambda r: r[1] == "/logout"):
        for identity, client in clients.items():
            expected = MATRIX[method, path][identity]
            got = request(client, world, method, path, identity).status_code
            if got != expected:
                wrong.append(f"{method} {path} as {identity}: {got}, expected {expected}")
    for client in clients.values():
        client.close()
    assert wrong == []


def test_a_department_head_edits_only_their_departments_incidents(world):
    app = make_app(world)
    with client_for(app, "department_head") as head:
        token = csrf_from(head.get("/actions").text)
        elsewhere = head.post("/actions/incidents", data={
            "csrf_token": token, "title": "Not mine", "touchpoint": world["other"]},
            follow_redirects=False)
        assert elsewhere.status_code == 403
        why = head.post(f"/actions/incidents/{world['other_incident']}/whys", data={
            "csrf_token": token, "statement": "Not mine either"}, follow_redirects=False)
        assert why.status_code == 403
        mine = head.post("/actions/incidents", data={
            "csrf_token": token, "title": "Mine", "touchpoint": world["own"]},
            follow_redirects=False)
        assert mine.status_code == 303
        page = head.get("/actions").text
    # only their touchpoints are offered, and only their incidents have a why form
    offered = set(re.findall(r'<option value="([^"]+)"', page.split('name="touchpoint"')[1]
                             .split("</select>")[0]))
    assert world["own"] in offered and world["other"] not in offered
    assert f'action="/actions/incidents/{world["own_incident"]}/whys"' in page
    assert f'action="/actions/incidents/{world["other_incident"]}/whys"' not in page


def test_staff_see_no_forms_and_no_pages_they_may_not_open(world):
    app = make_app(world)
    with client_for(app, "staff") as staff:
        page = staff.get("/actions").text
    assert 'action="/actions/incidents"' not in page and "/whys" not in page
    assert 'href="/personas' in page and 'href="/audit' not in page
    assert 'data-role="staff"' in page
    with client_for(app, "admin", 2) as admin:
        page = admin.get("/").text
    assert 'href="/personas' in page and 'href="/audit' in page


def test_the_personas_page_shows_customers_words_only_to_roles_allowed_personal_data(world):
    app = make_app(world)
    with client_for(app, "staff") as staff:
        page = staff.get("/personas").text
    assert 'data-hidden="quotes"' in page and "<blockquote" not in page
    with client_for(app, "manager", 2) as manager:
        page = manager.get("/personas").text
    assert 'data-hidden="quotes"' not in page and "<blockquote" in page


# ---- sessions ----------------------------------------------------------------------------


def test_a_session_ends_after_thirty_idle_minutes(world):
    clock = FrozenClock()
    app = make_app(world, clock)
    with client_for(app, "staff") as client:
        clock.advance(29 * 60)
        assert client.get("/actions", follow_redirects=False).status_code == 200
        clock.advance(29 * 60)  # 58 minutes in, but never 30 idle
        assert client.get("/actions", follow_redirects=False).status_code == 200
        clock.advance(30 * 60 + 1)
        gone = client.get("/actions", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].endswith("/login")


def test_a_session_ends_after_eight_hours_however_busy(world):
    clock = FrozenClock()
    app = make_app(world, clock)
    with client_for(app, "staff") as client:
        for _ in range(19):  # 19 × 25 min = 7 h 55 min
            clock.advance(25 * 60)
            assert client.get("/actions", follow_redirects=False).status_code == 200
        clock.advance(25 * 60)
        assert client.get("/actions", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_on_the_server_so_a_replayed_cookie_is_refused(world):
    app = make_app(world)
    with client_for(app, "staff") as client:
        cookie = client.cookies.get("corridor_session")
        token = csrf_from(client.get("/actions").text)
        assert client.post("/logout", data={"csrf_token": token},
                           follow_redirects=False).status_code == 303
    with TestClient(app, base_url="http://testserver") as replay:
        replay.cookies.set("corridor_session", cookie)
        assert replay.get("/actions", follow_redirects=False).status_code == 303
    assert app.state.site.sessions.sessions_of(USER_OF["staff"]) == []


def test_each_login_gets_a_new_session_and_the_old_one_ends(world):
    app = make_app(world)
    with client_for(app, "staff") as client:
        first = client.cookies.get("corridor_session")
        assert sign_in(client, USER_OF["staff"]).status_code == 303
        second = client.cookies.get("corridor_session")
        assert first != second
    with TestClient(app, base_url="http://testserver") as replay:
        replay.cookies.set("corridor_session", first)
        assert replay.get("/actions", follow_redirects=False).status_code == 303
    assert len(app.state.site.sessions.sessions_of(USER_OF["staff"])) == 1


def test_disabling_a_user_or_changing_their_role_ends_their_sessions(world):
    app = make_app(world)
    with Project.open(world["project"]) as p:
        add_user(p, "short-lived", Role.MANAGER, password=PASSWORD, actor="test")
        add_user(p, "promoted", Role.STAFF, password=PASSWORD, actor="test")
    with TestClient(app, base_url="http://testserver") as leaving, \
            TestClient(app, base_url="http://testserver") as rising:
        assert sign_in(leaving, "short-lived").status_code == 303
        assert sign_in(rising, "promoted").status_code == 303
        assert rising.get("/audit", follow_redirects=False).status_code == 403
        with Project.open(world["project"]) as p:  # as `corridor user` would, meanwhile
            disable_user(p, "short-lived")
            set_role(p, "promoted", Role.ADMIN)
        assert leaving.get("/", follow_redirects=False).status_code == 303
        assert rising.get("/", follow_redirects=False).status_code == 303
        assert sign_in(leaving, "short-lived").status_code == 401
        assert sign_in(rising, "promoted").status_code == 303
        assert rising.get("/audit", follow_redirects=False).status_code == 200


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(world):
    app = make_app(world)
    with TestClient(app, base_url="http://testserver") as plain:
        cookie = sign_in(plain, USER_OF["staff"]).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    with TestClient(app, base_url="https://testserver") as tls:
        cookie = sign_in(tls, USER_OF["staff"]).headers["set-cookie"].lower()
    assert "; secure" in cookie
    with TestClient(make_app(world, secure_cookies=True), base_url="http://testserver") as proxied:
        assert "; secure" in proxied.get("/login").headers["set-cookie"].lower()


# ---- CSRF --------------------------------------------------------------------------------


def test_a_post_without_the_sessions_own_csrf_token_is_refused(world):
    app = make_app(world)
    with client_for(app, "manager") as manager, client_for(app, "admin", 2) as admin:
        theirs = csrf_from(admin.get("/actions").text)
        form = {"title": "Forged", "touchpoint": world["own"]}
        assert manager.post("/actions/incidents", data=form,
                            follow_redirects=False).status_code == 403
        assert manager.post("/actions/incidents", data=form | {"csrf_token": theirs},
                            follow_redirects=False).status_code == 403
        assert manager.post("/logout", data={"csrf_token": theirs},
                            follow_redirects=False).status_code == 403
        mine = csrf_from(manager.get("/actions").text)
        assert mine != theirs
        assert manager.post("/actions/incidents", data=form | {"csrf_token": mine},
                            follow_redirects=False).status_code == 303


# ---- throttling --------------------------------------------------------------------------


def test_failed_logins_slow_down_then_the_right_password_works_after_the_wait(world):
    clock = FrozenClock()
    app = make_app(world, clock)
    user = USER_OF["analyst"]
    with TestClient(app, base_url="http://testserver", client=("10.9.0.1", 1)) as client:
        for _ in range(3):
            assert sign_in(client, user, "wrong password!").status_code == 401
        early = sign_in(client, user)  # the right password, too early: not even checked
        assert early.status_code == 429
        assert early.headers["retry-after"] == "1"
        assert "wait 1 s" in early.text
        clock.advance(1)
        assert sign_in(client, user, "wrong password!").status_code == 401  # 4th failure
        clock.advance(1.5)
        assert sign_in(client, user).status_code == 429  # now 2 s
        assert sign_in(client, user).headers["retry-after"] == "1"
        clock.advance(0.5)
        assert sign_in(client, user).status_code == 303
    # success reset the account (not the address): from elsewhere, three free failures
    with TestClient(app, base_url="http://testserver", client=("10.9.0.2", 1)) as client:
        for _ in range(3):
            assert sign_in(client, user, "wrong password!").status_code == 401
        assert sign_in(client, user).status_code == 429


def test_an_address_guessing_many_accounts_slows_down_but_other_addresses_do_not(world):
    clock = FrozenClock()
    app = make_app(world, clock)
    with TestClient(app, base_url="http://testserver", client=("10.9.1.1", 1)) as guesser, \
            TestClient(app, base_url="http://testserver", client=("10.9.2.1", 1)) as other:
        for n in range(10):  # one failure each at ten accounts: free
            assert sign_in(guesser, f"guess-{n}", "wrong password!").status_code == 401
        assert sign_in(guesser, "guess-x", "wrong password!").status_code == 429
        # another address is not slowed by them
        assert sign_in(other, USER_OF["manager"]).status_code == 303
        for _ in range(20):  # many failures: the wait is capped at a minute
            clock.advance(60)
            assert sign_in(guesser, "guess-e", "wrong password!").status_code == 401
        assert sign_in(guesser, USER_OF["staff"]).headers["retry-after"] == "60"
        clock.advance(60)
        assert sign_in(guesser, USER_OF["staff"]).status_code == 303


def test_an_attacker_failing_at_the_pace_of_retry_after_never_keeps_the_owner_out(world):
    """The attack of issue 15: one wrong password each time Retry-After ran out kept the
    owner out of 44 tries in 44. Now the owner, from their own address, signs in at the
    first try every time (20 rounds, the last 11 at the one-minute cap), while the attacker
    is slowed to a minute a guess."""
    clock = FrozenClock()
    app = make_app(world, clock)
    owner = USER_OF["analyst"]
    waits = []
    with TestClient(app, base_url="http://testserver", client=("203.0.113.66", 1)) as attacker, \
            TestClient(app, base_url="http://testserver", client=("198.51.100.7", 1)) as own:
        for _ in range(20):
            guess = sign_in(attacker, owner, "wrong password!")
            if guess.status_code == 429:
                waits.append(int(guess.headers["retry-after"]))
                clock.advance(waits[-1])
                guess = sign_in(attacker, owner, "wrong password!")
            assert guess.status_code == 401
            assert sign_in(own, owner).status_code == 303  # first try, every time
    assert waits[:6] == [1, 2, 4, 8, 16, 32] and set(waits[6:]) == {60}


# ---- headers -----------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(world):
    app = make_app(world)
    with client_for(app, "admin") as client:
        answers = [client.get("/login"), client.get("/"), client.get("/static/corridor.css"),
                   client.get("/no-such-page"), client.get("/audit")]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                     "img-src 'self' data:", "frame-ancestors 'none'", "form-action 'self'"):
            assert part in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
