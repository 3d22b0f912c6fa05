"""The flask CLI: db upgrade and current, init-db, seed-demo, create-admin, create-token,
ensure-admin, users."""

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from tests.helpers.apps import close_app
from tests.helpers.apps import make_test_config
from tests.helpers.apps import open_app
from webapp.app import create_app
from webapp.core import staff
from webapp.core.models import ApiToken
from webapp.core.models import AuditEntry
from webapp.core.models import Question
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.tokens import user_for_token
from webapp.infra import schema
from webapp.web.services import get_session


def _fingerprint(app):
    """Learners and (the first 500) scores of the app's database, to compare two seeds."""
    with app.app_context():
        s = get_session()
        users = s.execute(select(User.username, User.email, User.full_name).order_by(User.id)).all()
        scores = s.execute(
            select(Score.user_id, Score.quiz_id, Score.timestamp, Score.total_scored)
            .order_by(Score.id)
            .limit(500)
        ).all()
        return users, scores, s.scalar(select(func.count()).select_from(Score))


def test_db_upgrade_brings_an_empty_database_to_the_newest_schema_and_current_says_so(tmp_path):
    with open_app(tmp_path, tables=False) as app:
        runner = app.test_cli_runner()
        behind = runner.invoke(args=["db", "current"])
        assert behind.exit_code == 1 and "never migrated" in behind.output

        first = runner.invoke(args=["db", "upgrade"])
        again = runner.invoke(args=["db", "upgrade"])
        now = runner.invoke(args=["db", "current"])

    head = schema.head()
    assert first.exit_code == 0, first.output
    assert f"upgraded from nothing to revision {head}" in first.output
    assert again.exit_code == 0 and f"up to date (revision {head})" in again.output
    assert now.exit_code == 0 and f"at revision {head}; newest is {head}" in now.output


def test_init_db_then_seed_demo_is_deterministic(tmp_path, runner, app):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "up to date" in result.output
    result = runner.invoke(args=["seed-demo", "--users", "30", "--months", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "30 learners" in result.output

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = create_app(make_test_config(other_dir))
    out = other.test_cli_runner().invoke(
        args=["seed-demo", "--users", "30", "--months", "2", "--seed", "5"]
    )
    assert out.exit_code == 0, out.output
    assert _fingerprint(app) == _fingerprint(other)
    close_app(other)
    with app.app_context():
        # The planner's statistics were gathered after the load (SQLite keeps none by itself;
        # PostgreSQL's autovacuum would, later).
        session = get_session()
        if session.bind.dialect.name == "sqlite":
            analysed = session.execute(text("SELECT tbl FROM sqlite_stat1")).scalars()
        else:
            # reltuples is -1 until a table was first analysed.
            analysed = session.execute(
                text("SELECT relname FROM pg_class WHERE reltuples >= 0 AND relkind = 'r'")
            ).scalars()
        assert {"user", "score"} <= set(analysed)


def test_seed_demo_gives_each_quiz_one_number_of_questions(runner, app):
    result = runner.invoke(args=["seed-demo", "--users", "40", "--months", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        s = get_session()
        mixed = s.execute(
            select(Score.quiz_id)
            .group_by(Score.quiz_id)
            .having(func.count(Score.total_questions.distinct()) > 1)
        ).all()
        assert mixed == []
        # And that number is the quiz's own count of questions.
        questions = (
            select(Question.quiz_id, func.count().label("n")).group_by(Question.quiz_id).subquery()
        )
        unlike = s.scalar(
            select(func.count())
            .select_from(Score)
            .join(questions, questions.c.quiz_id == Score.quiz_id, isouter=True)
            .where(func.coalesce(questions.c.n, 0) != Score.total_questions)
        )
        assert unlike == 0
        # Not by making every quiz alike: the quizzes still differ in length.
        assert s.scalar(select(func.count(Score.total_questions.distinct()))) > 1


def test_seed_demo_refuses_a_database_with_learners(runner):
    assert runner.invoke(args=["seed-demo", "--users", "3"]).exit_code == 0
    again = runner.invoke(args=["seed-demo", "--users", "3"])
    assert again.exit_code != 0 and "has learners already" in again.output
    quiet = runner.invoke(args=["seed-demo", "--users", "3", "--if-empty"])
    assert quiet.exit_code == 0 and "left as it is" in quiet.output


def test_create_admin_from_stdin_and_token_as_last_line(runner, app):
    runner.invoke(args=["init-db"])
    result = runner.invoke(
        args=["create-admin", "boss@example.com", "--password-stdin"],
        input="a very long password\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-token", "boss@example.com"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with app.app_context():
        s = get_session()
        user = user_for_token(s, token)
        assert user is not None and user.email == "boss@example.com" and user.is_admin
        assert user.check_password("a very long password")
        # Only the hash is stored.
        stored = s.scalar(select(ApiToken.token_hash))
        assert token not in stored


def test_create_admin_rejects_short_password_and_bad_email(runner):
    runner.invoke(args=["init-db"])
    short = runner.invoke(args=["create-admin", "a@example.com", "--password-stdin"], input="x\n")
    assert short.exit_code != 0 and "at least 10" in short.output
    bad = runner.invoke(args=["create-admin", "not-an-email", "--password-stdin"], input="y" * 12)
    assert bad.exit_code != 0 and "EMAIL" in bad.output


def test_create_token_for_unknown_admin_fails(runner):
    runner.invoke(args=["init-db"])
    result = runner.invoke(args=["create-token", "nobody@example.com"])
    assert result.exit_code != 0 and "No staff account" in result.output


def test_ensure_admin_prints_credentials_and_reuses_them(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    app = create_app(make_test_config(tmp_path))
    runner = app.test_cli_runner()
    runner.invoke(args=["init-db"])
    first = runner.invoke(args=["ensure-admin"])
    assert first.exit_code == 0 and first.output.startswith("Admin sign-in: ")
    second = runner.invoke(args=["ensure-admin"])
    assert second.output == first.output
    close_app(app)
    # `make run` again with the admin's address and password in the environment.
    monkeypatch.setenv("ADMIN_EMAIL", "chief@example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "chosen password 123")
    app = create_app(make_test_config(tmp_path))
    third = app.test_cli_runner().invoke(args=["ensure-admin"])
    assert "chief@example.com / chosen password 123" in third.output
    close_app(app)


# --- users: staff accounts from the command line ----------------------------------------------


def _role_and_state(app, email: str) -> tuple[str, bool]:
    with app.app_context():
        s = get_session()
        user = s.scalar(select(User).where(User.email == email))
        return user.role, staff.standing(s, user).active


def test_users_add_list_set_role_disable_and_enable(runner, app):
    runner.invoke(args=["init-db"])
    added = runner.invoke(args=["users", "add", "vera@example.com", "--role", "viewer"])
    assert added.exit_code == 0, added.output
    password = added.output.strip().splitlines()[-1]
    assert "Added vera@example.com as viewer." in added.output and len(password) >= 10
    given = runner.invoke(
        args=["users", "add", "otto@example.com", "--role", "operator", "--password-stdin"],
        input="a long password\n",
    )
    assert given.exit_code == 0 and "Password" not in given.output
    listed = runner.invoke(args=["users", "list"]).output
    assert "vera@example.com" in listed and "viewer" in listed and "active" in listed
    assert "otto@example.com" in listed and "operator" in listed

    assert runner.invoke(args=["users", "set-role", "vera@example.com", "admin"]).exit_code == 0
    assert _role_and_state(app, "vera@example.com") == ("admin", True)
    assert runner.invoke(args=["users", "disable", "otto@example.com"]).exit_code == 0
    assert _role_and_state(app, "otto@example.com") == ("operator", False)
    assert "disabled" in runner.invoke(args=["users", "list"]).output
    again = runner.invoke(args=["users", "disable", "otto@example.com"])
    assert again.exit_code == 0 and "was disabled already" in again.output
    assert runner.invoke(args=["users", "enable", "otto@example.com"]).exit_code == 0
    assert _role_and_state(app, "otto@example.com") == ("operator", True)
    with app.app_context():
        entries = (
            get_session()
            .execute(select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id))
            .all()
        )
    assert [a for _w, a in entries] == [
        "user_added",
        "user_added",
        "role_changed",
        "user_disabled",
        "user_enabled",
    ]
    assert all(who.startswith("command line (") for who, _a in entries)


def test_users_refuses_in_words_and_changes_nothing(runner, app):
    runner.invoke(args=["init-db"])
    runner.invoke(args=["create-admin", "boss@example.com", "--password-stdin"], input="x" * 12)
    last = runner.invoke(args=["users", "set-role", "boss@example.com", "viewer"])
    assert last.exit_code != 0 and "boss@example.com is the last active admin" in last.output
    assert runner.invoke(args=["users", "disable", "boss@example.com"]).exit_code != 0
    assert _role_and_state(app, "boss@example.com") == ("admin", True)
    learner_role = runner.invoke(args=["users", "add", "l@example.com", "--role", "user"])
    assert learner_role.exit_code != 0 and "'user' is not one of" in learner_role.output
    duplicate = runner.invoke(args=["users", "add", "BOSS@example.com"])
    assert duplicate.exit_code != 0 and "is already the admin account" in duplicate.output
    unknown = runner.invoke(args=["users", "disable", "nobody@example.com"])
    assert unknown.exit_code != 0 and "No staff account with email" in unknown.output
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(User)) == 1


def test_a_token_acts_with_its_owners_role_and_a_disabled_owner_gets_none(runner, app):
    runner.invoke(args=["init-db"])
    runner.invoke(args=["users", "add", "vera@example.com"])  # a viewer
    made = runner.invoke(args=["create-token", "vera@example.com"])
    assert made.exit_code == 0 and "acting as viewer" in made.output
    runner.invoke(args=["users", "disable", "vera@example.com"])
    refused = runner.invoke(args=["create-token", "vera@example.com"])
    assert refused.exit_code != 0 and "is disabled" in refused.output


def test_create_admin_does_not_take_over_another_staff_account(runner, app):
    runner.invoke(args=["init-db"])
    runner.invoke(args=["users", "add", "vera@example.com"])
    taken = runner.invoke(
        args=["create-admin", "vera@example.com", "--password-stdin"], input="x" * 12
    )
    assert taken.exit_code != 0 and "users set-role vera@example.com admin" in taken.output
    assert _role_and_state(app, "vera@example.com") == ("viewer", True)
