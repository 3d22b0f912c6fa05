"""Jinja filters for people (local times with the zone named, numbers with separators, counted
nouns) and the names templates compare states with."""

from datetime import UTC
from datetime import datetime
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from flask import Flask

from webapp.core.mail.mime import deliverable
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.core.states import SuppressionReason
from webapp.core.words import plural
from webapp.web.services import settings

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def display_zone() -> ZoneInfo:
    """The zone times are shown in: DISPLAY_TIMEZONE, or UTC when that is not a known zone."""
    name = settings().DISPLAY_TIMEZONE or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    # The ledger stores naive UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def localtime(value: datetime | str | None, with_date: bool = True) -> str:
    """'3 Jan 2025, 14:05 CET' in the display zone; an em dash for no time."""
    when = _aware(value)
    if when is None:
        return "—"
    local = when.astimezone(display_zone())
    clock = f"{local:%H:%M} {local.tzname()}"
    if not with_date:
        return clock
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {clock}"


def isotime(value: datetime | str | None) -> str:
    """The machine-readable UTC time for a <time datetime=...> attribute."""
    when = _aware(value)
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else ""


def number(value: int | float | None) -> str:
    """1234567 -> '1,234,567'; floats keep one decimal."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def percent(value: float | None) -> str:
    """42.0 -> '42 %', 99.5 -> '99.5 %'."""
    if value is None:
        return "—"
    text = f"{value:,.1f}".removesuffix(".0")
    return f"{text} %"


def duration(seconds: float | int | None) -> str:
    """A short duration in words: '45 s', '3 min 20 s', '2 h 5 min'."""
    if seconds is None:
        return "—"
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def month_label(value: str | None) -> str:
    """'2024-12' -> 'December 2024' (the raw text when it is not a month)."""
    try:
        return Month.parse(value, allow_future=True).label
    except MonthError:
        return value or "—"


def init_app(app: Flask) -> None:
    """Register the filters, the state names and the zone's name for templates."""
    # Templates compare states by these names, never by retyped strings.
    app.jinja_env.globals.update(
        {name.__name__: name for name in (RunState, DeliveryState, RunScope, SuppressionReason)}
    )
    app.jinja_env.globals.update(
        RUN_ACTIVE=RUN_ACTIVE, RUN_OPEN=RUN_OPEN, DELIVERY_OPEN=DELIVERY_OPEN
    )
    # `count|plural('report')`: '1 report', '198 reports', never 'report(s)'.
    filters = (localtime, isotime, number, percent, duration, month_label, plural)
    app.jinja_env.filters.update({f.__name__: f for f in filters})
    # `address is deliverable`: pages say whether a learner can be mailed as sending decides.
    app.jinja_env.tests["deliverable"] = deliverable

    @app.context_processor
    def _settings_and_zone():
        return {"settings": settings(), "display_zone_name": display_zone().key}
