"""The quiz platform's own tables, under their seed-compatible names: the product reads them
and adds no column to them."""

from datetime import date
from datetime import datetime

from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role
from webapp.core.tables.base import Base

# OWASP's floor for scrypt; werkzeug's default work factor is below it.
PASSWORD_METHOD = "scrypt:131072:8:1"


def _trigram_index(column: str) -> Index:
    # PostgreSQL answers a learner search (ILIKE '%ana%') from these instead of reading every
    # learner: 160 ms at 100,000 learners without them. SQLite has no such index.
    return Index(
        f"ix_user_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


class User(Base):
    """A learner (role "user") of the platform, or a staff account (viewer, operator, admin).

    The quiz platform's table: the product adds no column to it; what it keeps about staff
    accounts is in StaffAccount."""

    __tablename__ = "user"
    __table_args__ = (
        *(_trigram_index(c) for c in ("full_name", "username", "email")),
        # As the baseline migration makes the table where it is missing: ids never reused.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    qualification: Mapped[str | None] = mapped_column(String(200))
    dob: Mapped[date | None] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(20), default=Role.LEARNER, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))

    def set_password(self, password: str) -> None:
        """Store a strong hash of the password."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def staff_role(self) -> Role | None:
        """The account's staff role; None for a learner or a role the product does not know."""
        role = Role.of(self.role)
        return role if role in STAFF_ROLES else None

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class Subject(Base):
    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Chapter(Base):
    __tablename__ = "chapter"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Quiz(Base):
    __tablename__ = "quiz"

    id: Mapped[int] = mapped_column(primary_key=True)
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapter.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    date_of_quiz: Mapped[date | None] = mapped_column(Date)
    time_duration: Mapped[str | None] = mapped_column(String(20))


class Question(Base):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id"), index=True)
    question_statement: Mapped[str] = mapped_column(Text, default="")
    option1: Mapped[str | None] = mapped_column(Text)
    option2: Mapped[str | None] = mapped_column(Text)
    option3: Mapped[str | None] = mapped_column(Text)
    option4: Mapped[str | None] = mapped_column(Text)
    correct_option: Mapped[int | None] = mapped_column(Integer)


class Score(Base):
    """One quiz attempt; timestamp is naive UTC, as the platform writes it."""

    __tablename__ = "score"
    __table_args__ = (
        # The chunk query filters by learner and month; the run-wide rank query by month.
        Index("ix_score_user_time", "user_id", "timestamp"),
        Index("ix_score_time_quiz", "timestamp", "quiz_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    total_scored: Mapped[int] = mapped_column(Integer)
    total_questions: Mapped[int] = mapped_column(Integer)
