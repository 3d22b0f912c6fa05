"""Roles and staff accounts (core/states.Role, core/staff.py): the order of the roles, adding
accounts, changing roles, disabling and enabling, the last active admin, and the audit trail
of each change."""

import threading
import time

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests.helpers.factories import make_admin
from tests.helpers.factories import make_staff
from tests.helpers.factories import make_user
from webapp.core import staff
from webapp.core.audit import Actor
from webapp.core.models import AuditEntry
from webapp.core.models import StaffAccount
from webapp.core.models import User
from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role
from webapp.web.services import get_session

ADA = Actor("ada@example.test", id=None, source="203.0.113.7")


def trail(session) -> list[tuple[str, str, str, str]]:
    """The audit entries, oldest first: (actor, action, target, detail)."""
    rows = session.execute(
        select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.detail).order_by(
            AuditEntry.id
        )
    )
    return [tuple(row) for row in rows]


@pytest.fixture
def revoked(monkeypatch) -> list[int]:
    """The accounts whose sessions core revoked (through webapp.core.sessions.revoke_sessions,
    whichever version of it is in place)."""
    calls: list[int] = []
    real = staff.revoke_sessions

    def recording(session, user_id):
        calls.append(user_id)
        real(session, user_id)

    monkeypatch.setattr(staff, "revoke_sessions", recording)
    return calls


def test_the_roles_are_ordered_and_admin_keeps_its_stored_value():
    assert [r.rank for r in (Role.LEARNER, Role.VIEWER, Role.OPERATOR, Role.ADMIN)] == [0, 1, 2, 3]
    assert Role.ADMIN.value == "admin" and Role.LEARNER.value == "user"
    assert Role.OPERATOR.at_least(Role.VIEWER) and Role.OPERATOR.at_least(Role.OPERATOR)
    assert not Role.VIEWER.at_least(Role.OPERATOR)
    assert not Role.LEARNER.at_least(Role.VIEWER)
    assert STAFF_ROLES == (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


def test_a_role_the_product_does_not_know_is_no_staff_role(session):
    teacher = make_user(session, role="teacher")
    learner = make_user(session)
    admin = make_admin(session)
    assert Role.of("teacher") is None
    assert (teacher.staff_role, learner.staff_role, admin.staff_role) == (None, None, Role.ADMIN)
    assert not staff.standing(session, teacher).active
    assert staff.standing(session, admin).active  # an admin made before staff_account existed


def test_an_added_account_signs_in_with_its_password_and_the_trail_says_who_added_it(session):
    user, generated = staff.add(session, ADA, "Vera@Example.com", "viewer", full_name="Vera V")
    assert generated and len(generated) >= staff.MIN_PASSWORD
    assert (user.email, user.username, user.role) == ("Vera@example.com",) * 2 + ("viewer",)
    assert user.check_password(generated)
    given, none = staff.add(session, ADA, "otto@example.com", "operator", "a long password")
    assert none is None and given.check_password("a long password")
    assert staff.standing(session, user).active
    assert trail(session) == [
        ("ada@example.test", "user_added", "Vera@example.com", "role viewer"),
        ("ada@example.test", "user_added", "otto@example.com", "role operator"),
    ]


@pytest.mark.parametrize(
    "email,role,password,words",
    [
        ("not an email", "viewer", None, "not an email address"),
        ("new@example.com", "user", None, "not a staff role"),
        ("new@example.com", "owner", None, "not a staff role"),
        ("new@example.com", "viewer", "short", "at least 10 characters"),
        ("new@example.com", "viewer", "x" * 1025, "at most 1,024 characters"),
        ("taken@example.com", "viewer", None, "is already the viewer account"),
        ("TAKEN@example.com", "admin", None, "is already the viewer account"),
        ("learner@example.com", "viewer", None, "is already a learner's account"),
    ],
)
def test_a_bad_addition_is_refused_in_words_and_changes_nothing(
    session, email, role, password, words
):
    make_staff(session, "viewer", "taken@example.com")
    make_user(session, username="learner@example.com")
    session.commit()
    before = session.scalar(select(func.count()).select_from(User))
    with pytest.raises(staff.StaffError, match=words):
        staff.add(session, ADA, email, role, password)
    assert session.scalar(select(func.count()).select_from(User)) == before
    assert trail(session) == []


def test_a_role_change_is_recorded_and_a_demotion_ends_the_sessions(session, revoked):
    admin = make_admin(session)
    operator = make_staff(session, "operator")
    session.commit()
    actor = Actor(admin.email, admin.id)

    assert staff.set_role(session, actor, operator.id, "admin") is True  # a promotion
    assert revoked == []
    assert staff.set_role(session, actor, operator.id, "admin") is False  # no change
    assert staff.set_role(session, actor, operator.id, "viewer") is True  # a demotion
    assert revoked == [operator.id]
    assert session.get(User, operator.id).role == "viewer"
    assert [(a, t, d) for _who, a, t, d in trail(session)] == [
        ("role_changed", "operator@example.test", "operator → admin"),
        ("role_changed", "operator@example.test", "admin → viewer"),
    ]


def test_a_disabled_account_is_not_active_and_its_sessions_end_until_it_is_enabled(
    session, revoked
):
    operator = make_staff(session, "operator")
    session.commit()
    assert staff.disable(session, ADA, operator.id) is True
    assert staff.disable(session, ADA, operator.id) is False
    assert revoked == [operator.id]
    assert not staff.standing(session, operator).active
    assert staff.enable(session, ADA, operator.id) is True
    assert staff.enable(session, ADA, operator.id) is False
    assert staff.standing(session, operator).active
    assert [a for _who, a, _t, _d in trail(session)] == ["user_disabled", "user_enabled"]


def test_a_learner_is_no_staff_account_to_change(session):
    learner = make_user(session)
    session.commit()
    with pytest.raises(LookupError):
        staff.set_role(session, ADA, learner.id, "admin")
    with pytest.raises(LookupError):
        staff.disable(session, ADA, learner.id)
    assert session.get(User, learner.id).role == "user"


@pytest.mark.parametrize("change", ["demote", "disable"])
def test_the_last_active_admin_stays_one(session, revoked, change):
    admin = make_admin(session)
    other = make_staff(session, "admin", "second@example.test")
    viewer = make_staff(session, "viewer")
    session.commit()
    staff.disable(session, ADA, other.id)  # a disabled admin does not count
    revoked.clear()
    before = trail(session)

    def do(actor):
        if change == "demote":
            return staff.set_role(session, actor, admin.id, "operator")
        return staff.disable(session, actor, admin.id)

    with pytest.raises(staff.LastAdmin, match="^You are the last active admin"):
        do(Actor(admin.email, admin.id))
    with pytest.raises(staff.LastAdmin, match="^admin@example.test is the last active admin"):
        do(Actor("command line (root)"))
    # Nothing changed: the role, the state, the sessions, the trail.
    assert session.get(User, admin.id).role == "admin"
    assert staff.standing(session, admin).active
    assert revoked == [] and trail(session) == before

    staff.enable(session, ADA, other.id)
    assert do(Actor(admin.email, admin.id)) is True  # with another admin, one may step down
    assert staff.member(session, viewer.id).active


def test_two_admins_demoting_each_other_at_once_leave_one(app, monkeypatch):
    with app.app_context():
        s = get_session()
        ids = [make_admin(s).id, make_staff(s, "admin", "second@example.test").id]
        s.commit()
    count = staff._active_admins

    def slow_count(session):
        # Both changes are made before either counts: without the lock both would see the
        # other still an admin, and both would commit.
        time.sleep(0.3)
        return count(session)

    monkeypatch.setattr(staff, "_active_admins", slow_count)
    runtime = app.extensions["runtime"]
    start = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def demote(me: int, other: int) -> None:
        session = runtime.session()
        try:
            start.wait()
            outcomes[me] = staff.set_role(session, Actor(f"admin {me}", me), other, "viewer")
        except (staff.LastAdmin, OperationalError) as exc:  # SQLite: one writer at a time
            outcomes[me] = exc
        finally:
            session.close()

    threads = [threading.Thread(target=demote, args=(a, b)) for a, b in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values(), key=lambda o: o is True)[-1] is True, outcomes
    refused = [o for o in outcomes.values() if o is not True]
    assert len(refused) == 1 and isinstance(refused[0], staff.LastAdmin), outcomes
    with app.app_context():
        assert staff._active_admins(get_session()) == 1


def test_staff_are_listed_admins_first_with_their_state(session):
    make_staff(session, "viewer", "b-viewer@example.test")
    make_staff(session, "operator", "a-operator@example.test")
    make_admin(session)
    make_user(session)  # learners are not staff
    session.commit()
    listed = staff.listed(session)
    assert [(m.email, m.role) for m in listed] == [
        ("admin@example.test", "admin"),
        ("a-operator@example.test", "operator"),
        ("b-viewer@example.test", "viewer"),
    ]
    assert all(m.active for m in listed)
    assert session.scalar(select(func.count()).select_from(StaffAccount)) == 0
