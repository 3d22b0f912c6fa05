"""Learners' unsubscribe links: <PUBLIC_BASE_URL>/unsubscribe/<token>, in every report's
footer and its List-Unsubscribe header, with List-Unsubscribe-Post for one-click (RFC 8058).

The token names the learner and is signed with SECRET_KEY (HMAC-SHA256, itsdangerous): it
needs no table, cannot be forged or pointed at another learner, and never expires, since a
report read a year later must still unsubscribe. Changing SECRET_KEY breaks the links of the
reports mailed before.
"""

import functools
import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from webapp.infra.secret_key import secret_key
from webapp.infra.settings import Settings

# Keeps these signatures apart from any other use of the same key (sessions, CSRF tokens).
SALT = "quiz-reports unsubscribe"
PATH = "/unsubscribe/"
# A token is about 60 characters; anything much longer is not one of ours.
MAX_TOKEN = 200
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Signs and checks the unsubscribe tokens of one dashboard address and key."""

    base_url: str
    secret_key: str

    @functools.cached_property
    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(
            self.secret_key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def token(self, user_id: int) -> str:
        """The learner's token: the same every time, for every month."""
        return self._serializer.dumps(user_id)

    def url(self, user_id: int) -> str:
        """The learner's unsubscribe page."""
        return f"{self.base_url.rstrip('/')}{PATH}{self.token(user_id)}"

    def user_id(self, token: str) -> int | None:
        """The learner a token was signed for; None for a forged, altered or foreign one."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            return None
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return None
        # A bool is an int to Python; no token of ours holds one.
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        # Base64 lets a last character's unused bits change without changing the bytes: such
        # an altered token still verifies. Only the very token we sign is taken.
        if not hmac.compare_digest(self.token(value), token):
            return None
        return value


def links_for(settings: Settings) -> UnsubscribeLinks:
    """The links of this dashboard, signed with the key the web app and every worker share."""
    return UnsubscribeLinks(settings.PUBLIC_BASE_URL, secret_key(settings))


def headers(url: str) -> dict[str, str]:
    """The headers a report carries for its unsubscribe link (none without one): a mail
    client's unsubscribe button POSTs "List-Unsubscribe=One-Click" to it, without cookies."""
    if not url:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}
