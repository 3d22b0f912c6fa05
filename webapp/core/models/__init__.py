"""Tables: the quiz platform's own (seed-compatible names) and the product's, one module a part.

Imported from here, so that every table is in Base.metadata whatever a caller needs.
The schema is made and changed by the migrations (migrations/, webapp/infra/schema.py); a test
checks that they and these models agree.
"""

from webapp.core.models.base import Base
from webapp.core.models.ledger import Delivery
from webapp.core.models.ledger import QuizStanding
from webapp.core.models.ledger import ReportRun
from webapp.core.models.ledger import SendRecord
from webapp.core.models.operations import SmtpSlot
from webapp.core.models.operations import WorkerBeat
from webapp.core.models.platform import PASSWORD_METHOD
from webapp.core.models.platform import Chapter
from webapp.core.models.platform import Question
from webapp.core.models.platform import Quiz
from webapp.core.models.platform import Score
from webapp.core.models.platform import Subject
from webapp.core.models.platform import User
from webapp.core.models.staff import AccountSession
from webapp.core.models.staff import ApiToken
from webapp.core.models.staff import AuditEntry
from webapp.core.models.staff import StaffAccount
from webapp.core.models.staff import Suppression

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
