"""Flask CLI commands: flask --app wsgi db upgrade | db current | init-db | seed-demo |
create-admin | ensure-admin | create-token | users list | add | set-role | disable | enable |
ingest-bounces."""

import os
import pwd
import secrets
import socket
import sys
import time
from pathlib import Path

import click
from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import Flask
from flask.cli import with_appcontext

from webapp.core import accounts
from webapp.core import bounces
from webapp.core import demo
from webapp.core import staff
from webapp.core import tokens
from webapp.core.audit import Actor
from webapp.core.states import STAFF_ROLES
from webapp.infra import private
from webapp.infra import schema
from webapp.web.services import get_session
from webapp.web.services import runtime
from webapp.web.services import settings

MIN_PASSWORD = staff.MIN_PASSWORD


def cli_actor() -> Actor:
    """Who acts from the command line, for the audit trail: the machine's user and host (the
    product has no account for whoever holds a shell on its machine)."""
    return Actor(f"command line ({pwd.getpwuid(os.getuid()).pw_name})", None, socket.gethostname())


def _valid_email(email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None


@click.group("db")
def db():
    """The database schema: upgrade to the newest, or see where it stands."""


def _upgrade() -> None:
    engine = runtime().engine
    before = schema.current(engine)
    schema.upgrade(engine)
    after = schema.current(engine)
    if before == after:
        click.echo(f"Database schema up to date (revision {after}).")
    else:
        click.echo(f"Database schema upgraded from {before or 'nothing'} to revision {after}.")


@db.command("upgrade")
@with_appcontext
def db_upgrade():
    """Bring the database to the newest schema: creates what is missing, adds our indexes to
    the quiz platform's tables (their rows are never changed)."""
    _upgrade()


@db.command("current")
@with_appcontext
def db_current():
    """Print the revision the database is at, and the newest there is."""
    at = schema.current(runtime().engine)
    newest = schema.head()
    click.echo(f"Database at revision {at or 'none (never migrated)'}; newest is {newest}.")
    if at != newest:
        sys.exit(1)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
@with_appcontext
def db_revision(message):
    """Write a new migration from how the models differ from the database (for developers)."""
    click.echo(schema.new_revision(runtime().engine, message))


@click.command("init-db")
@with_appcontext
def init_db():
    """The same as `db upgrade` (kept for existing scripts)."""
    _upgrade()


@click.command("seed-demo")
@click.option("--users", default=200, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--months", default=3, show_default=True, type=click.IntRange(1, 36))
@click.option("--seed", "seed_value", default=1, show_default=True, type=int)
@click.option(
    "--attempts",
    default=20,
    show_default=True,
    type=click.IntRange(1, 500),
    help="About how many attempts each learner makes a month.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when learners exist already.")
@with_appcontext
def seed_demo(users, months, seed_value, attempts, if_empty):
    """Load deterministic demo data for the last full months."""
    schema.upgrade(runtime().engine)
    session = get_session()
    if demo.has_data(session):
        if if_empty:
            click.echo("Demo data: the database has learners already; left as it is.")
            return
        raise click.ClickException("The database has learners already; seed an empty one.")
    started = time.perf_counter()
    result = demo.seed(session, users=users, months=months, seed=seed_value, attempts=attempts)
    click.echo(
        f"Demo data: {result['learners']} learners, {result['attempts']} attempts in "
        f"{', '.join(result['months'])} ({time.perf_counter() - started:.1f} s)."
    )


@click.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--full-name", default="Administrator", show_default=True)
@with_appcontext
def create_admin(email, password_stdin, full_name):
    """Create an admin (or set the password of an existing one)."""
    email = _valid_email(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"The password must have at least {MIN_PASSWORD} characters.")
    schema.upgrade(runtime().engine)
    session = get_session()
    if accounts.admin_by_email(session, email) is None and (
        other := accounts.account_named(session, email)
    ):
        if other.staff_role is not None:
            raise click.ClickException(
                f"{email} is a {other.staff_role}: `flask --app wsgi users set-role {email} "
                "admin` makes it an admin."
            )
        raise click.ClickException(f"{email} belongs to a learner, not an admin.")
    accounts.set_admin(session, email, password, full_name, cli_actor())
    click.echo(f"Admin {email} is ready.")


@click.command("ensure-admin")
@with_appcontext
def ensure_admin():
    """Create the admin of `make run` from ADMIN_EMAIL/ADMIN_PASSWORD, or a generated one."""
    config = settings()
    email = _valid_email(config.ADMIN_EMAIL)
    given = config.ADMIN_PASSWORD
    stash = Path(config.INSTANCE_PATH) / "admin-password.txt"
    session = get_session()
    if accounts.admin_by_email(session, email) is not None and not given:
        hint = stash.read_text().strip() if stash.exists() else "(unchanged; not stored here)"
        click.echo(f"Admin sign-in: {email} / {hint}")
        return
    password = given or secrets.token_urlsafe(12)
    accounts.set_admin(session, email, password, "Administrator", cli_actor())
    if not given:
        private.write(stash, password + "\n")
    click.echo(f"Admin sign-in: {email} / {password}")


@click.command("create-token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
@with_appcontext
def create_token(email, name):
    """Print a new API token of a staff account, which acts with its role (the last line of
    output is the token)."""
    session = get_session()
    user = staff.by_email(session, email)
    if user is None:
        raise click.ClickException(
            f"No staff account (viewer, operator or admin) with email {email}."
        )
    if not staff.standing(session, user).active:
        raise click.ClickException(f"{user.email} is disabled: `users enable` it first.")
    _row, plain = tokens.create_token(session, user, name, cli_actor())
    click.echo(f"API token for {user.email}, acting as {user.role} (shown once; store it safely):")
    click.echo(plain)


@click.group("users")
def users():
    """Staff accounts: list, add, change the role of, disable and enable them."""


def _staff_id(session, email: str) -> int:
    user = staff.by_email(session, email)
    if user is None:
        raise click.ClickException(f"No staff account with email {email}.")
    return user.id


def _role_choice():
    return click.Choice([str(role) for role in STAFF_ROLES])


@users.command("list")
@with_appcontext
def users_list():
    """Every staff account: id, email, role, status and name."""
    members = staff.listed(get_session())
    width = max((len(m.email) for m in members), default=5)
    click.echo(f"{'id':>6}  {'email':<{width}}  {'role':<8}  {'status':<8}  name")
    for m in members:
        status = "active" if m.active else "disabled"
        click.echo(f"{m.id:>6}  {m.email:<{width}}  {m.role:<8}  {status:<8}  {m.name}")


@users.command("add")
@click.argument("email")
@click.option("--role", type=_role_choice(), default=str(STAFF_ROLES[0]), show_default=True)
@click.option("--full-name", default="", help="The person's name, as the dashboard shows it.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input; without it one is generated and printed.",
)
@with_appcontext
def users_add(email, role, full_name, password_stdin):
    """Add a staff account (its password is printed once when generated)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        user, generated = staff.add(get_session(), cli_actor(), email, role, password, full_name)
    except staff.StaffError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Added {user.email} as {user.role}.")
    if generated:
        click.echo("Password (shown once; give it to the person):")
        click.echo(generated)


def _change(change, done: str, already: str) -> None:
    try:
        changed = change()
    except staff.StaffError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(done if changed else already)


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=_role_choice())
@with_appcontext
def users_set_role(email, role):
    """Give a staff account another role (a demotion ends its sessions)."""
    session = get_session()
    user_id = _staff_id(session, email)
    _change(
        lambda: staff.set_role(session, cli_actor(), user_id, role),
        f"{email} is now {role}.",
        f"{email} was {role} already.",
    )


@users.command("disable")
@click.argument("email")
@with_appcontext
def users_disable(email):
    """Disable a staff account: no sign-in, no API tokens; its sessions end."""
    session = get_session()
    user_id = _staff_id(session, email)
    _change(
        lambda: staff.disable(session, cli_actor(), user_id),
        f"{email} is disabled.",
        f"{email} was disabled already.",
    )


@users.command("enable")
@click.argument("email")
@with_appcontext
def users_enable(email):
    """Let a disabled staff account sign in and use its tokens again."""
    session = get_session()
    user_id = _staff_id(session, email)
    _change(
        lambda: staff.enable(session, cli_actor(), user_id),
        f"{email} is enabled.",
        f"{email} was enabled already.",
    )


@click.command("ingest-bounces")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@with_appcontext
def ingest_bounces(path: Path):
    """Read the bounce reports (RFC 3464) of a Maildir folder or an mbox file: hard bounces
    put their learners on the suppression list, soft ones are counted. The folder is only
    read, so running it again is harmless."""
    try:
        result = bounces.ingest(get_session(), path)
    except bounces.NotAMailbox as exc:
        raise click.ClickException(str(exc)) from None
    for user_id, address, detail in result.suppressed:
        click.echo(f"suppressed learner {user_id} <{address}>: {detail}")
    for address in result.unmatched_addresses:
        click.echo(f"unmatched: no learner was mailed at <{address}>")
    click.echo(result.summary())


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""
    commands = (
        db,
        init_db,
        seed_demo,
        create_admin,
        ensure_admin,
        create_token,
        users,
        ingest_bounces,
    )
    for command in commands:
        app.cli.add_command(command)
