"""Accounts and sessions in core: every refused sign-in checks one password hash and says
nothing about why; a session stands only while its row does and its account is the same;
ids are never given twice on SQLite."""

from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from tests.helpers.factories import FAST_HASH
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_user
from tests.helpers.signin import HashChecks
from webapp.core import accounts
from webapp.core import sessions
from webapp.core.audit import Actor
from webapp.core.clock import utcnow
from webapp.core.models import PASSWORD_METHOD
from webapp.core.models import AccountSession
from webapp.core.models import AuditEntry
from webapp.core.models import User

ACTOR = Actor("admin@example.test", 1, "203.0.113.9")
HOURS_12 = 12 * 3600

# Stored hashes werkzeug cannot read (ValueError, OverflowError) or that would cost more
# memory or time than our own method.
MALFORMED = [
    "scrypt:bad$a$b",
    "md5$a$b",
    "pbkdf2:sha256:abc$s$h",
    "pbkdf2:nohash:10$a$b",
    "scrypt:1237940039285380274899124224:8:1$a$b",
    "scrypt:1048576:8:1$salt$00",
    "pbkdf2:sha256:900000000$salt$00",
]


def test_the_dummy_hash_is_made_as_real_ones_are():
    assert accounts.DUMMY_HASH.startswith(PASSWORD_METHOD + "$")
    assert accounts.password_matches(accounts.DUMMY_HASH, "not a password") is False


@pytest.mark.parametrize("stored", MALFORMED)
def test_an_unreadable_stored_hash_is_none_after_a_dummy_check(monkeypatch, stored):
    checks = HashChecks(monkeypatch)
    assert accounts.password_matches(stored, PASSWORD) is None
    assert checks.hashes[-1] == accounts.DUMMY_HASH


def _refusals(session) -> dict[str, tuple[str, str]]:
    make_admin(session)
    make_user(session, email="learner@example.test", password=PASSWORD)
    make_admin(session, email="nopassword@example.test").password_hash = None
    make_admin(session, email="broken@example.test").password_hash = "scrypt:bad$a$b"
    session.commit()
    return {
        "unknown email": ("nobody@example.test", PASSWORD),
        "learner, right password": ("learner@example.test", PASSWORD),
        "admin, wrong password": ("admin@example.test", "wrong password"),
        "admin without a password": ("nopassword@example.test", PASSWORD),
        "admin whose hash is malformed": ("broken@example.test", PASSWORD),
    }


def test_every_refusal_checks_a_hash_and_names_no_account(session, monkeypatch):
    cases = _refusals(session)
    for name, (email, password) in cases.items():
        checks = HashChecks(monkeypatch)
        result = accounts.authenticate(session, email, password)
        assert result.user is None, name
        assert checks.count >= 1, name  # the same path and cost, whatever the reason
        monkeypatch.undo()
    reasons = {name: accounts.authenticate(session, *case).reason for name, case in cases.items()}
    assert reasons == {
        "unknown email": accounts.NO_STAFF_ACCOUNT,
        "learner, right password": accounts.NO_STAFF_ACCOUNT,
        "admin, wrong password": accounts.WRONG_PASSWORD,
        "admin without a password": accounts.NO_PASSWORD,
        "admin whose hash is malformed": accounts.UNREADABLE_HASH,
    }


def test_an_unknown_email_checks_the_dummy_hash_made_as_real_ones_are(session, monkeypatch):
    checks = HashChecks(monkeypatch)
    accounts.authenticate(session, "nobody@example.test", PASSWORD)
    assert checks.hashes == [accounts.DUMMY_HASH]


def test_an_admin_with_the_right_password_is_found_in_any_case(session):
    admin = make_admin(session)
    session.commit()
    assert accounts.authenticate(session, " Admin@Example.TEST ", PASSWORD).user is admin


def _signed_in(session, user: User) -> str:
    return sessions.sign_in(session, user, ACTOR, HOURS_12)


def test_a_session_stands_until_its_row_goes(session):
    admin = make_admin(session)
    token = _signed_in(session, admin)
    assert sessions.user_for(session, admin.id, token) is admin
    assert sessions.user_for(session, admin.id, token + "x") is None
    assert sessions.user_for(session, admin.id + 1, token) is None
    assert sessions.user_for(session, admin.id, None) is None
    assert sessions.user_for(session, admin.id, "x" * 10_000) is None
    # Only the token's digest is stored.
    assert token not in session.scalar(select(AccountSession.token_sha256))


def test_an_expired_session_is_over(session):
    admin = make_admin(session)
    token = _signed_in(session, admin)
    session.execute(update(AccountSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert sessions.user_for(session, admin.id, token) is None


def test_signing_out_ends_this_session_only(session):
    admin = make_admin(session)
    here, elsewhere = _signed_in(session, admin), _signed_in(session, admin)
    assert sessions.active_count(session, admin) == 2
    sessions.sign_out(session, admin, here, ACTOR)
    assert sessions.user_for(session, admin.id, here) is None
    assert sessions.user_for(session, admin.id, elsewhere) is admin


def test_revoke_sessions_ends_every_session_of_the_account_only(session):
    admin, other = make_admin(session), make_admin(session, email="other@example.test")
    tokens = [_signed_in(session, admin) for _ in range(3)]
    others = _signed_in(session, other)
    assert sessions.revoke_sessions(session, admin.id) == 3
    session.commit()
    assert [sessions.user_for(session, admin.id, t) for t in tokens] == [None] * 3
    assert sessions.user_for(session, other.id, others) is other


def test_a_password_changed_anywhere_ends_the_sessions(session):
    admin = make_admin(session)
    token = _signed_in(session, admin)
    # As the quiz platform would: straight into its table.
    admin.password_hash = generate_password_hash("another password", method=FAST_HASH)
    session.commit()
    assert sessions.user_for(session, admin.id, token) is None


def test_change_password_ends_the_others_and_opens_one_for_this_browser(session):
    admin = make_admin(session)
    old = [_signed_in(session, admin) for _ in range(2)]
    new = accounts.change_password(session, admin, "a new long password", ACTOR, HOURS_12)
    assert [sessions.user_for(session, admin.id, t) for t in old] == [None, None]
    assert sessions.user_for(session, admin.id, new) is admin
    assert accounts.authenticate(session, admin.email, "a new long password").user is admin
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.detail) == ("password_changed", "2 sessions ended")


def test_a_new_account_given_a_deleted_accounts_id_does_not_inherit_its_sessions(session):
    admin = make_admin(session)
    old_id, old_token = admin.id, _signed_in(session, admin)
    session.execute(delete(User).where(User.id == old_id))
    session.commit()
    session.expunge_all()
    # The platform gives the id to a new admin (SQLite reuses the highest id without
    # AUTOINCREMENT; a platform's own table may lack it).
    session.execute(
        insert(User).values(
            id=old_id,
            username="newadmin@example.test",
            email="newadmin@example.test",
            role="admin",
            password_hash=generate_password_hash(PASSWORD, method=FAST_HASH),
        )
    )
    session.commit()
    assert sessions.user_for(session, old_id, old_token) is None
    newcomer = session.get(User, old_id)
    token = _signed_in(session, newcomer)
    assert sessions.user_for(session, old_id, token) is newcomer
    assert sessions.user_for(session, old_id, old_token) is None
    assert sessions.active_count(session, newcomer) == 1


def test_set_admin_of_an_existing_admin_ends_their_sessions(session):
    admin = make_admin(session)
    token = _signed_in(session, admin)
    accounts.set_admin(session, admin.email, "a brand new password", "Ada Admin")
    assert sessions.user_for(session, admin.id, token) is None
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.actor, entry.action) == ("command line", "password_changed")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_never_gives_an_accounts_id_twice(session):
    first, second = make_user(session), make_user(session)
    session.commit()
    gone = second.id
    session.delete(second)
    session.commit()
    assert make_user(session).id > gone
    assert first.id < gone
