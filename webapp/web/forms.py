"""The dashboard's forms: every POST goes through one, so CSRF covers it."""

from datetime import date

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import SubmitField
from wtforms import TextAreaField
from wtforms import ValidationError
from wtforms.fields import EmailField
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.widgets import DateInput
from wtforms.widgets import MonthInput

from webapp.core import letters
from webapp.core import staff
from webapp.core.accounts import MIN_PASSWORD
from webapp.core.audit import AuditAction
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role


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
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email."),
            Length(max=254, message="An email address has at most 254 characters."),
        ],
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=1024)]
    )
    next = HiddenField()
    submit = SubmitField("Sign in")


class ChangePasswordForm(FlaskForm):
    """The signed-in account's new password, with the current one as proof."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=1024)],
    )
    new = PasswordField(
        "New password",
        validators=[
            DataRequired("Choose a new password."),
            Length(
                min=MIN_PASSWORD,
                max=1024,
                message=f"Choose a password of {MIN_PASSWORD} to 1,024 characters.",
            ),
        ],
        description=(
            f"At least {MIN_PASSWORD} characters; a few unrelated words are long and easy to "
            "remember."
        ),
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the new password again."),
            EqualTo("new", "The two new passwords differ; type them again."),
        ],
    )
    submit = SubmitField("Change password")

    def validate_new(self, field):
        if field.data and field.data == self.current.data:
            raise ValidationError("The new password is the one you have now; choose another.")


class ActionForm(FlaskForm):
    """A bare form for one action button: just the CSRF token and where to go back to."""

    next = HiddenField()


class ConfirmForm(ActionForm):
    """An action that asks first (webapp/web/confirm.py): `confirmed` carries the answer,
    bound to the facts the question showed; without it the action only asks."""

    confirmed = HiddenField()


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
    # The answer to the question a start asks first (webapp/web/confirm.py), and the count a
    # dry run's "Send these N" showed, to say so when the plan has changed since.
    confirmed = HiddenField()
    expected = HiddenField()
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


def _staff_role_choices() -> list[SelectChoice]:
    return [SelectChoice(str(role), str(role).capitalize()) for role in STAFF_ROLES]


class StaffForm(FlaskForm):
    """Add a staff account; the checks are core's (staff.clean_*), so the CLI's are the same."""

    email = EmailField(
        "Email", validators=[DataRequired("Enter the person's email address."), Length(max=254)]
    )
    full_name = StringField("Name", validators=[Length(max=200)], description="Optional.")
    role = SelectField(
        "Role",
        choices=_staff_role_choices(),
        default=str(Role.VIEWER),
        description=(
            "Viewer: reads everything. Operator: also starts, pauses, cancels, retries and "
            "resends runs and sends tests. Admin: also API tokens, accounts and the audit trail."
        ),
    )
    password = PasswordField(
        "Password",
        description=(
            f"At least {staff.MIN_PASSWORD} characters. Leave it empty to have one generated; "
            "it is shown once, to give to the person."
        ),
    )
    submit = SubmitField("Add account")

    def validate_email(self, field):
        try:
            field.data = staff.clean_email(field.data)
        except staff.StaffError as exc:
            raise ValidationError(exc.message) from None

    def validate_password(self, field):
        if field.data:
            try:
                staff.clean_password(field.data)
            except staff.StaffError as exc:
                raise ValidationError(exc.message) from None


class RoleForm(ActionForm):
    """Give a staff account another role."""

    role = SelectField("Role", choices=_staff_role_choices())


def _date(value: str | None) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError("Enter a date as YYYY-MM-DD, for example 2024-12-31.") from None
    if not 2000 <= day.year <= 9998:
        raise ValidationError("Pick a date from the year 2000 on.")
    return day


class AuditFilterForm(FlaskForm):
    """The Audit page's filters, read from the query string (a GET changes nothing: no CSRF)."""

    class Meta:
        csrf = False

    action = SelectField(
        "Action",
        choices=[SelectChoice("", "Any action")]
        + [SelectChoice(a.value, a.value.replace("_", " ").capitalize()) for a in AuditAction],
        default="",
    )
    actor = StringField("Who", validators=[Length(max=254)], description="Part of an email.")
    target = StringField(
        "Target", validators=[Length(max=254)], description="For example “run #7” or an email."
    )
    since = StringField("From", widget=DateInput())
    until = StringField("To", widget=DateInput())
    since_value: date | None = None
    until_value: date | None = None

    def validate_since(self, field):
        self.since_value = _date(field.data)

    def validate_until(self, field):
        self.until_value = _date(field.data)
        if self.since_value and self.until_value and self.until_value < self.since_value:
            raise ValidationError("The end date is before the start date.")


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
