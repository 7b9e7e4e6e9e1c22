"""Accounts and roles (corridor.accounts): argon2id hashes, the password rules, the
roles' order and permissions, and authentication that fails alike for every wrong case."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from argon2 import extract_parameters
from argon2.low_level import Type

from corridor.accounts import (
    PERMISSIONS, Permission, Role, add_user, authenticate, disable_user, get_user,
    list_users, may_edit_department, set_role,
)
from corridor.errors import InputError
from corridor.store import Project

P = Permission
GOOD = "a long enough password"


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        p.con.execute("INSERT INTO departments (department_id, name) VALUES ('D-CC', 'Care')")
        yield p


def test_passwords_are_stored_as_argon2id_with_at_least_19_mib_and_two_passes(project):
    add_user(project, "ana", Role.ADMIN, password=GOOD)
    stored = project.con.execute("SELECT password_hash FROM users").fetchone()[0]
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID
    assert parameters.memory_cost >= 19456 and parameters.time_cost >= 2
    assert GOOD not in stored


def test_a_password_longer_than_any_of_ours_never_signs_in(project):
    add_user(project, "ana", Role.ADMIN, password=GOOD)
    assert authenticate(project, "ana", GOOD + "x" * 2000).user is None
    assert authenticate(project, "ana", GOOD).user is not None


def test_a_generated_password_is_returned_once_and_works(project):
    made = add_user(project, "ben", "manager")
    assert made.generated and len(made.password) >= 12
    assert authenticate(project, "ben", made.password).user.role is Role.MANAGER


@pytest.mark.parametrize(("name", "role", "options", "message"), [
    ("ana", "admin", {"password": "too short"}, "at least 12 characters"),
    ("ana", "admin", {"password": "x" * 1025}, "at most 1,024 characters"),
    ("ana", "wizard", {"password": GOOD}, "Unknown role 'wizard'"),
    ("a b", "staff", {"password": GOOD}, "not a valid user name"),
    ("head", "department_head", {"password": GOOD}, "needs a department"),
    ("head", "department_head", {"password": GOOD, "department_id": "D-X"},
     "no department 'D-X'"),
])
def test_bad_accounts_are_refused_with_one_sentence(project, name, role, options, message):
    with pytest.raises(InputError, match=message):
        add_user(project, name, role, **options)
    assert list_users(project) == []


def test_a_user_name_is_taken_once(project):
    add_user(project, "ana", Role.STAFF, password=GOOD)
    with pytest.raises(InputError, match="already a user 'ana'"):
        add_user(project, "ana", Role.ADMIN, password=GOOD)


def test_wrong_unknown_and_disabled_all_fail_alike(project):
    add_user(project, "ana", Role.ANALYST, password=GOOD)
    add_user(project, "old", Role.ANALYST, password=GOOD)
    disable_user(project, "old")
    assert authenticate(project, "ana", GOOD).user.user_name == "ana"
    for name, password in (("ana", "wrong password"), ("nobody", GOOD), ("old", GOOD),
                           ("ana", ""), ("", "")):
        assert authenticate(project, name, password).user is None


def test_an_unknown_user_takes_as_long_as_a_known_one(project):
    add_user(project, "ana", Role.STAFF, password=GOOD)

    def timed(name: str) -> float:
        start = time.perf_counter()
        authenticate(project, name, "wrong password")
        return time.perf_counter() - start

    timed("nobody")  # the dummy hash is made on first use
    # the quickest of several interleaved tries: another process on the machine can only
    # slow a try down, so the minimum is the cost of the work itself
    tries = [(timed("ana"), timed("nobody")) for _ in range(5)]
    known, unknown = min(k for k, _ in tries), min(u for _, u in tries)
    assert unknown > 0.5 * known


def test_a_hash_made_with_weaker_parameters_is_replaced_at_login(project):
    add_user(project, "ana", Role.STAFF, password=GOOD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
    project.con.execute("UPDATE users SET password_hash = ?", [weak])
    result = authenticate(project, "ana", GOOD)
    assert result.user is not None and result.rehash is not None
    assert extract_parameters(result.rehash).memory_cost >= 19456
    assert authenticate(project, "ana", GOOD).rehash is not None  # until it is stored
    from corridor.accounts import store_rehash

    store_rehash(project, "ana", result.rehash)
    assert authenticate(project, "ana", GOOD).rehash is None


def test_roles_are_ordered_by_power():
    assert sorted(Role, key=lambda r: r.rank) == [
        Role.STAFF, Role.DEPARTMENT_HEAD, Role.MANAGER, Role.ANALYST, Role.ADMIN]
    assert Role.STAFF < Role.DEPARTMENT_HEAD < Role.MANAGER < Role.ANALYST < Role.ADMIN
    # each role may do everything the one below it may
    ranked = sorted(Role, key=lambda r: r.rank)
    for weaker, stronger in zip(ranked, ranked[1:]):
        assert PERMISSIONS[weaker] <= PERMISSIONS[stronger]


def test_the_permissions_table():
    assert PERMISSIONS == {
        Role.STAFF: {P.AGGREGATES, P.COURSE},
        Role.DEPARTMENT_HEAD: {P.AGGREGATES, P.COURSE, P.EDIT_OWN_DEPARTMENT,
                               P.TEAM_PROGRESS},
        Role.MANAGER: {P.AGGREGATES, P.COURSE, P.CUSTOMER_PII, P.EDIT_OWN_DEPARTMENT,
                       P.EDIT_ALL, P.TEAM_PROGRESS, P.COMPANY_PROGRESS, P.ASSESS_MATURITY},
        Role.ANALYST: {P.AGGREGATES, P.COURSE, P.CUSTOMER_PII, P.EDIT_OWN_DEPARTMENT,
                       P.EDIT_ALL, P.EXPORT, P.LOAD_DATA, P.TEAM_PROGRESS,
                       P.COMPANY_PROGRESS, P.ASSESS_MATURITY},
        Role.ADMIN: set(Permission),
    }


def test_department_heads_edit_only_their_own_department():
    assert may_edit_department(Role.DEPARTMENT_HEAD, "D-CC", "D-CC")
    assert not may_edit_department(Role.DEPARTMENT_HEAD, "D-CC", "D-NET")
    assert not may_edit_department(Role.DEPARTMENT_HEAD, "D-CC", None)
    assert not may_edit_department(Role.STAFF, "D-CC", "D-CC")
    assert may_edit_department(Role.MANAGER, None, "D-NET")


def test_set_role_disable_and_list(project):
    add_user(project, "ana", Role.STAFF, password=GOOD)
    add_user(project, "ben", Role.STAFF, password=GOOD)
    head = set_role(project, "ana", "department-head", department_id="D-CC")
    assert (head.role, head.department_id) == (Role.DEPARTMENT_HEAD, "D-CC")
    assert disable_user(project, "ben").disabled
    assert [(u.user_name, u.role, u.disabled) for u in list_users(project)] == [
        ("ana", Role.DEPARTMENT_HEAD, False), ("ben", Role.STAFF, True)]
    with pytest.raises(InputError, match="no user 'carl'"):
        set_role(project, "carl", Role.ADMIN)
    assert get_user(project, "carl") is None
