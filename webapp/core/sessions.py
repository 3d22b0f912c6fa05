"""STAND-IN, written by the roles-and-audit work: the sign-in/sessions work of issue 10 writes
the real module (a per-user session version checked on every request); at merge its version
replaces this one, together with StaffAccount.sessions_revoked_at and staff.session_revoked().

Until then this one really revokes: sessions that signed in before the moment of revocation
are refused by the dashboard's access check (webapp/web/access.py).
"""

from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import StaffAccount


def revoke_sessions(session: Session, user_id: int) -> None:
    """End every session of the account; in the caller's transaction (the caller commits)."""
    account = session.get(StaffAccount, user_id)
    if account is None:
        account = StaffAccount(user_id=user_id, added_at=utcnow())
        session.add(account)
    account.sessions_revoked_at = utcnow()
