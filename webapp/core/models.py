"""Tables: the quiz platform's own (seed-compatible names) and the product's, defined one
module a part in webapp/core/tables/ and imported from here, so that every table is in
Base.metadata whatever a caller needs.

The schema is made and changed by the migrations (migrations/, webapp/infra/schema.py); a test
checks that they and these models agree.
"""

from webapp.core.tables.base import Base
from webapp.core.tables.ledger import Delivery
from webapp.core.tables.ledger import QuizStanding
from webapp.core.tables.ledger import ReportRun
from webapp.core.tables.ledger import SendRecord
from webapp.core.tables.operations import SmtpSlot
from webapp.core.tables.operations import WorkerBeat
from webapp.core.tables.platform import PASSWORD_METHOD
from webapp.core.tables.platform import Chapter
from webapp.core.tables.platform import Question
from webapp.core.tables.platform import Quiz
from webapp.core.tables.platform import Score
from webapp.core.tables.platform import Subject
from webapp.core.tables.platform import User
from webapp.core.tables.staff import AccountSession
from webapp.core.tables.staff import ApiToken
from webapp.core.tables.staff import AuditEntry
from webapp.core.tables.staff import StaffAccount
from webapp.core.tables.staff import Suppression

__all__ = [
    "PASSWORD_METHOD",
    "AccountSession",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Chapter",
    "Delivery",
    "Question",
    "Quiz",
    "QuizStanding",
    "ReportRun",
    "Score",
    "SendRecord",
    "SmtpSlot",
    "StaffAccount",
    "Subject",
    "Suppression",
    "User",
    "WorkerBeat",
]
