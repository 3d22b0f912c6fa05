"""Flask CLI commands: flask --app wsgi init-db | seed-demo | create-admin | create-token."""

import secrets
import sys
import time
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from sqlalchemy import select

from webapp.core import demo
from webapp.core import tokens
from webapp.core.models import User
from webapp.infra.database import create_all
from webapp.infra.database import get_session


def _admin(session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email, User.role == "admin"))


def _valid_email(email: str) -> str:
    from email_validator import EmailNotValidError
    from email_validator import validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""

    @app.cli.command("init-db")
    def init_db():
        """Create the tables and indexes that do not exist yet."""
        create_all()
        click.echo("Database ready.")

    @app.cli.command("seed-demo")
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
    def seed_demo(users, months, seed_value, attempts, if_empty):
        """Load deterministic demo data for the last full months."""
        create_all()
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

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--full-name", default="Administrator", show_default=True)
    def create_admin(email, password_stdin, full_name):
        """Create an admin (or set the password of an existing one)."""
        email = _valid_email(email)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 10:
            raise click.ClickException("The password must have at least 10 characters.")
        session = get_session()
        create_all()
        user = _admin(session, email)
        if user is None:
            if session.scalar(select(User).where(User.username == email)):
                raise click.ClickException(f"{email} belongs to a learner, not an admin.")
            user = User(username=email, email=email, full_name=full_name, role="admin")
            session.add(user)
        user.set_password(password)
        session.commit()
        click.echo(f"Admin {email} is ready.")

    @app.cli.command("ensure-admin")
    def ensure_admin():
        """Create the admin of `make run` from ADMIN_EMAIL/ADMIN_PASSWORD, or a generated one."""
        import os

        email = _valid_email(os.environ.get("ADMIN_EMAIL") or "admin@quiz-reports.example")
        given = os.environ.get("ADMIN_PASSWORD")
        stash = Path(current_app.config["INSTANCE_PATH"]) / "admin-password.txt"
        session = get_session()
        user = _admin(session, email)
        if user is not None and not given:
            hint = stash.read_text().strip() if stash.exists() else "(unchanged; not stored here)"
            click.echo(f"Admin sign-in: {email} / {hint}")
            return
        password = given or secrets.token_urlsafe(12)
        if user is None:
            user = User(username=email, email=email, full_name="Administrator", role="admin")
            session.add(user)
        user.set_password(password)
        session.commit()
        if not given:
            stash.parent.mkdir(parents=True, exist_ok=True)
            stash.write_text(password + "\n")
            stash.chmod(0o600)
        click.echo(f"Admin sign-in: {email} / {password}")

    @app.cli.command("create-token")
    @click.argument("email")
    @click.option("--name", default="cli", show_default=True, help="A label for the token.")
    def create_token(email, name):
        """Print a new API token for an admin (the last line of output is the token)."""
        session = get_session()
        user = _admin(session, email.strip().lower()) or _admin(session, email.strip())
        if user is None:
            raise click.ClickException(f"No admin with email {email}.")
        _row, plain = tokens.create_token(session, user, name)
        click.echo(f"API token for {user.email} (shown once; store it safely):")
        click.echo(plain)
