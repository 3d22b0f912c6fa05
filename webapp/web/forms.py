"""The admin pages' forms: every POST goes through one, so CSRF covers it."""

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import StringField
from wtforms import SubmitField
from wtforms import TextAreaField
from wtforms import ValidationError
from wtforms.fields import EmailField
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.widgets import MonthInput

from webapp.core import letters
from webapp.core.months import Month
from webapp.core.months import MonthError


def parse_form_month(value: str | None) -> Month:
    """A month from a form, with the reason in words when it cannot be reported on."""
    text = (value or "").strip()
    try:
        month = Month.parse(text, allow_future=True)
    except MonthError:
        raise ValidationError("Enter a month as YYYY-MM, for example 2024-12.") from None
    if month > Month.current():
        raise ValidationError(
            f"{month.label} is in the future: there is nothing to report yet. "
            f"Pick {Month.last_full().label} or an earlier month."
        )
    return month


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=1024)]
    )
    next = HiddenField()
    submit = SubmitField("Sign in")


class ActionForm(FlaskForm):
    """A bare form for one action button: just the CSRF token and where to go back to."""

    next = HiddenField()


class SendForm(ActionForm):
    """Send (or resend) one learner's report for a month."""

    month = HiddenField(validators=[DataRequired()])

    def validate_month(self, field):
        self.month_value = parse_form_month(field.data)


class StartRunForm(FlaskForm):
    month = StringField(
        "Month",
        widget=MonthInput(),
        validators=[DataRequired("Pick the month to report on.")],
        description="Reports cover one calendar month; the last full month is the usual choice.",
    )
    scope = RadioField(
        "Who gets a report",
        choices=[SelectChoice("all", "All learners"), SelectChoice("one", "One learner")],
        default="all",
    )
    learner = StringField(
        "Learner (name or email)",
        validators=[Length(max=254)],
        description="Only for one learner: type a name or email and pick from the list.",
    )
    subject = StringField(
        "Subject",
        description=(
            f"Optional: one line, at most {letters.SUBJECT_MAX} characters. Left empty, it is "
            "the usual “Your quiz report —” and the month."
        ),
    )
    intro = TextAreaField(
        "Intro",
        description=(
            f"Optional: a few words above every report, at most {letters.INTRO_MAX:,} "
            "characters of plain text. A blank line starts a new paragraph."
        ),
    )
    dry_run = SubmitField("Dry run: who would be mailed")
    start = SubmitField("Start run")
    wording = letters.RunWording()

    def validate_month(self, field):
        self.month_value = parse_form_month(field.data)

    def validate_learner(self, field):
        if self.scope.data == "one" and not (field.data or "").strip():
            raise ValidationError("Type the learner's name or email address.")

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then the subject and intro by core's rules (letters.clean)."""
        valid = super().validate(extra_validators)
        try:
            self.wording = letters.clean(self.subject.data, self.intro.data)
        except letters.LetterError as exc:
            for name, reason in exc.problems.items():
                self[name].errors.append(reason)
            return False
        return valid


class TokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[DataRequired("Give the token a name."), Length(max=100)],
        description="Say what will use it, e.g. “nightly cron on reports-01”.",
    )
    submit = SubmitField("Create token")


class SuppressForm(FlaskForm):
    """An admin puts a learner on the suppression list, by their address."""

    email = EmailField(
        "Learner's email",
        validators=[DataRequired("Enter the learner's email address."), Length(max=254)],
        description="Every learner with this address is listed: no report is mailed to them.",
    )
    note = StringField(
        "Note",
        validators=[Length(max=500, message="Keep the note under 500 characters.")],
        description="Optional: why, for the other admins (e.g. “asked by phone”).",
    )
    submit = SubmitField("Add to the list")


class UnsubscribeForm(FlaskForm):
    """A learner's opt-out by the link in their report. A mail client's one-click button
    (RFC 8058) POSTs "List-Unsubscribe=One-Click" with no cookies and so with no CSRF token:
    the signed token in the URL is what authenticates it, and what a cross-site page cannot
    know, so this one form goes without CSRF (its view is exempt, web/unsubscribe.py)."""

    class Meta:
        csrf = False

    # Sent by mail clients; the unsubscribe page's own button sends nothing.
    one_click = HiddenField(
        name="List-Unsubscribe",
        validators=[Optional(), AnyOf(["One-Click"], message="Expected One-Click.")],
    )

    @property
    def is_one_click(self) -> bool:
        """A mail client's one-click request, not the page's button."""
        return self.one_click.data == "One-Click"
