"""The Class month page: its figures, the month asked for, its CSV downloads, who may see it,
and its figures kept between visits."""

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers.database import statements_run
from tests.helpers.factories import make_class_world
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_staff
from tests.helpers.factories import make_user
from tests.helpers.web import htmx
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core.models import Quiz
from webapp.core.models import User
from webapp.core.months import Month
from webapp.web.services import get_session


@pytest.fixture
def school(mail_app) -> dict:
    """The class world (tests/helpers/factories.py) in mail_app's database, by username."""
    with mail_app.app_context():
        return make_class_world(get_session())


@pytest.fixture
def teacher(mail_app, school):
    """A test client signed in as a viewer: the least role that reads the page."""
    with mail_app.app_context():
        make_staff(get_session(), "viewer")
        get_session().commit()
    client = mail_app.test_client()
    assert login(client, "viewer@example.test").status_code == 303
    return client


def rows_of(response) -> list[list[str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 by its byte order mark
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_page_shows_the_class_month(teacher, school):
    response = teacher.get("/teaching?month=2024-12")
    assert response.status_code == 200
    words = text_of(response)
    assert "Class month: December 2024" in words
    assert "Learners active 6 of 8" in words and "Attempts 8" in words
    assert "Class average 46.5 %" in words and "No attempts 2" in words
    assert "Mathematics 45.8 % 6 5" in words and "Physics 50 % 2 2" in words
    assert "90–100 % 2 33.3 %" in words and "0–9 % 1 16.7 %" in words
    hardest = words.split("Quizzes most learners got wrong")[1].split("Most improved")[0]
    assert hardest.index("Linear equations") < hardest.index("Lenses") < hardest.index("Quadratics")
    assert "Ana Alves +42.9 points 50 % 1 attempt 92.9 % 2 attempts" in words
    assert "2 learners made no attempt in December 2024" in words
    assert "Eve Evans" in words and "Fay Fox" in words
    html = response.get_data(as_text=True)
    assert f'href="/learners/{school["ana"]}"' in html  # most improved link to their page
    assert f'href="/learners/{school["fay"]}"' in html  # so do those without attempts
    assert 'aria-current="page">Class month</a>' in html


def test_without_a_month_it_shows_the_last_finished_one(teacher):
    words = text_of(teacher.get("/teaching"))
    assert f"Class month: {Month.last_full().label}" in words
    assert "No learner attempted a quiz" in words
    assert "8 learners made no attempt" in words


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("month=2024-13", "“2024-13” is not a month: pick one as YYYY-MM"),
        ("month=december", "“december” is not a month"),
        ("month=2999-01", "January 2999 has not begun"),
        ("month=2024-12&format=pdf", "format must be html or csv."),
        ("month=2024-12&format=csv&table=scores", "table must be quizzes or learners."),
        ("month=2024-12&format=csv", "table must be quizzes or learners."),
        ("month=2024-12&page=0", "page must be a whole number"),
    ],
)
def test_bad_requests_are_a_400_page_in_words(teacher, query, words):
    response = teacher.get(f"/teaching?{query}")
    assert response.status_code == 400
    assert words in text_of(response)
    if "page=" not in query:  # the way on: the last finished month
        assert f"Show {Month.last_full().label}" in text_of(response)
        assert 'href="/teaching"' in response.get_data(as_text=True)


def test_the_quizzes_download(teacher):
    response = teacher.get("/teaching?month=2024-12&format=csv&table=quizzes")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="quizzes-2024-12.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    assert rows_of(response) == [
        [
            "Subject",
            "Chapter",
            "Quiz",
            "Attempts",
            "Learners",
            "Average %",
            "Attempts under 50 %",
            "Share under 50 %",
        ],
        ["Mathematics", "Algebra", "Linear equations", "4", "4", "40.0", "2", "50.0"],
        ["Mathematics", "Algebra", "Quadratics", "2", "2", "75.0", "0", "0.0"],
        ["Physics", "Optics", "Lenses", "2", "2", "50.0", "1", "50.0"],
    ]


def test_the_learners_download_has_every_learner(teacher, school):
    response = teacher.get("/teaching?month=2024-12&format=csv&table=learners")
    assert response.headers["Content-Disposition"] == 'attachment; filename="learners-2024-12.csv"'
    rows = rows_of(response)
    assert rows[0][:4] == ["Learner id", "Name", "Email", "Attempts"]
    by_name = {row[1]: row for row in rows[1:]}
    assert len(by_name) == 8  # the admin is no learner
    assert by_name["Ana Alves"] == [
        str(school["ana"]),
        "Ana Alves",
        "ana@example.test",
        "2",
        "92.86",
        "1",
        "50.0",
        "42.86",
    ]
    assert by_name["Ben Brown"][4:] == ["40.0", "1", "80.0", "-40.0"]  # a number, not text
    assert by_name["Fay Fox"][3:] == ["0", "", "0", "", ""]
    assert by_name["Eve Evans"][3:] == ["0", "", "1", "60.0", ""]


def test_downloads_cannot_run_formulas(mail_app, teacher):
    with mail_app.app_context():
        s = get_session()
        quiz = make_quiz(s, name='=HYPERLINK("http://evil.example","x")')
        for name in ("@SUM(A1)", "+1+1", "-2", "Zoë Émile"):
            make_score(s, make_user(s, full_name=name), quiz, datetime(2024, 12, 2), 1, 2)
        s.commit()
    quizzes = rows_of(teacher.get("/teaching?month=2024-12&format=csv&table=quizzes"))
    assert [row[2] for row in quizzes if "HYPERLINK" in row[2]] == [
        '\'=HYPERLINK("http://evil.example","x")'
    ]
    learners = rows_of(teacher.get("/teaching?month=2024-12&format=csv&table=learners"))
    names = {row[1] for row in learners[1:]}
    assert {"'@SUM(A1)", "'+1+1", "'-2", "Zoë Émile"} <= names


def test_the_absent_list_is_paged_and_htmx_gets_it_alone(mail_app, teacher):
    with mail_app.app_context():
        s = get_session()
        for n in range(30):
            make_user(s, full_name=f"Zz Quiet {n:02d}")
        s.commit()
    words = text_of(teacher.get("/teaching?month=2024-12&page=2"))
    assert "32 learners made no attempt" in words and "Page 2 of 2" in words
    assert "Zz Quiet 29" in words and "Eve Evans" not in words
    fragment = htmx(teacher, "GET", "/teaching?month=2024-12&page=2").get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="absent"')
    assert "Zz Quiet 29" in fragment


def test_kept_figures_follow_new_attempts_of_the_month(mail_app, teacher, school):
    assert "Attempts 8" in text_of(teacher.get("/teaching?month=2024-12"))

    def attempt(when: datetime) -> None:
        with mail_app.app_context():
            s = get_session()
            quiz = s.scalar(select(Quiz).where(Quiz.name == "Lenses"))
            make_score(s, s.get(User, school["fay"]), quiz, when, 1, 1)
            s.commit()

    attempt(datetime(2025, 2, 3))  # another month's: the kept figures hold
    assert "Attempts 8" in text_of(teacher.get("/teaching?month=2024-12"))
    attempt(datetime(2024, 12, 20))  # December's, arriving late: worked out again
    words = text_of(teacher.get("/teaching?month=2024-12"))
    assert "Attempts 9" in words and "No attempts 1" in words


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_staff_role_reads_the_page_and_its_downloads(mail_app, school, role):
    with mail_app.app_context():
        make_staff(get_session(), role, f"{role}-reader@example.test")
        get_session().commit()
    client = mail_app.test_client()
    assert login(client, f"{role}-reader@example.test").status_code == 303
    assert client.get("/teaching?month=2024-12").status_code == 200
    assert client.get("/teaching?month=2024-12&format=csv&table=learners").status_code == 200


def test_signed_out_it_asks_to_sign_in(mail_app, school):
    response = mail_app.test_client().get("/teaching?month=2024-12&format=csv&table=learners")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_month_is_worked_out_once_with_a_fixed_handful_of_grouped_queries(mail_app, teacher):
    with mail_app.app_context():
        s = get_session()
        quiz = s.scalar(select(Quiz).where(Quiz.name == "Lenses"))
        for n in range(200):  # the shape must not follow the class's size
            make_score(
                s, make_user(s, full_name=f"More {n:03d}"), quiz, datetime(2024, 12, 5), 3, 5
            )
        s.commit()
    engine = mail_app.extensions["runtime"].engine
    with statements_run(engine) as first:
        assert teacher.get("/teaching?month=2024-12").status_code == 200
    grouped = [s for s in first if "GROUP BY" in s]
    assert len(grouped) == 4 and len(first) <= 12, first
    # Read back: no attempt is grouped again, and the absent list is read by id.
    with statements_run(engine) as again:
        assert teacher.get("/teaching?month=2024-12&page=1").status_code == 200
    assert not [s for s in again if "GROUP BY" in s] and len(again) <= 6, again
