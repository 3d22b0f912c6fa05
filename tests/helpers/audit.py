"""Reading the audit trail in tests."""

from flask import Flask
from sqlalchemy import select

from tests.helpers.apps import rows_of
from webapp.core.audit import AuditAction
from webapp.core.models import AuditEntry

# Signing in and out is recorded too; tests of other actions leave those entries out.
SIGN_INS = (
    AuditAction.SIGN_IN,
    AuditAction.SIGN_IN_FAILED,
    AuditAction.SIGN_OUT,
    AuditAction.SIGN_OUT_EVERYWHERE,
)


def trail(app: Flask, *columns, sign_ins: bool = False) -> list[tuple]:
    """The given columns of every entry, oldest first (sign-ins and -outs only if asked)."""
    query = select(*columns).order_by(AuditEntry.id)
    if not sign_ins:
        query = query.where(AuditEntry.action.not_in([str(a) for a in SIGN_INS]))
    return rows_of(app, query)


def suppression_trail(app: Flask, *columns) -> list[tuple]:
    """The given columns of the suppression list's entries (added, lifted), oldest first."""
    actions = [str(AuditAction.SUPPRESSION_ADDED), str(AuditAction.SUPPRESSION_LIFTED)]
    query = select(*columns).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)
    return rows_of(app, query)
