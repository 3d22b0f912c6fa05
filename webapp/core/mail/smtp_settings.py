"""Where and how to reach the SMTP server, from the product's settings."""

from dataclasses import dataclass
from dataclasses import field

from webapp.infra.settings import Settings
from webapp.infra.settings import default_smtp_security

SECURITY_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server; repr never shows the password."""

    server: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "starttls"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {self.security!r}"
            )
        if not self.timeout or self.timeout <= 0:
            raise ValueError("SMTP_TIMEOUT must be a positive number of seconds")

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpSettings":
        """The SMTP_* settings of the product."""
        port = int(settings.SMTP_PORT or 25)
        return cls(
            server=settings.SMTP_SERVER or "127.0.0.1",
            port=port,
            username=settings.SMTP_USERNAME or "",
            password=settings.SMTP_PASSWORD or "",
            security=(settings.SMTP_SECURITY or default_smtp_security(port)).strip().lower(),
            timeout=float(settings.SMTP_TIMEOUT or 30.0),
        )

    @property
    def address(self) -> str:
        """host:port, as the error messages show it."""
        return f"{self.server}:{self.port}"
