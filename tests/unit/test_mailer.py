"""The SMTP client against a real server: what arrives, and how every failure is classified."""

import pytest

from tests.helpers.smtp import FaultPlan
from tests.helpers.smtp import FirstTries
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.stack import free_port
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp import check_connection
from webapp.core.mail.smtp import wire_data
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_errors import TransientMailError
from webapp.core.mail.smtp_errors import UnknownOutcomeError
from webapp.core.mail.smtp_errors import describe_smtp_reply
from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.infra.settings import Settings

FROM = "Quiz Reports <reports@quiz.example>"
PASSWORD = "s3cret-Pa55word"


def make_message(to="ada@example.test", subject="Your May report", body="Hello Ada\r\n") -> bytes:
    """A small message as the worker sends it."""
    return (
        f"From: {FROM}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@quiz.example>\r\n\r\n{body}"
    ).encode()


def send_one(server, to="ada@example.test", message=None, **settings):
    """Send one message to the server in a session of its own; the server's reply."""
    with SmtpSession(server.settings(**settings)) as smtp:
        return smtp.send(FROM, to, message or make_message(to))


def test_send_delivers_the_exact_bytes(smtp_server):
    message = make_message()
    code, text = send_one(smtp_server, message=message)
    assert code == 250
    assert "queued" in text
    [received] = smtp_server.wait_for(1)
    assert received.data == message
    assert received.mail_from == "reports@quiz.example"
    assert received.rcpt_tos == ["ada@example.test"]


def test_many_messages_share_one_connection(smtp_server):
    with SmtpSession(smtp_server.settings()) as smtp:
        for n in range(5):
            to = f"learner{n}@example.test"
            assert smtp.send(FROM, to, make_message(to))[0] == 250
    assert [m.rcpt_tos for m in smtp_server.wait_for(5)] == [
        [f"learner{n}@example.test"] for n in range(5)
    ]
    assert smtp_server.connections == 1


def test_lines_starting_with_a_dot_arrive_intact(smtp_server):
    body = ".\r\n..\r\n.hidden line\r\nnot .a dot line\r\n.\r\n"
    message = make_message(body=body)
    send_one(smtp_server, message=message)
    assert smtp_server.wait_for(1)[0].data == message


def test_bare_newlines_are_sent_as_crlf(smtp_server):
    send_one(smtp_server, message=b"Subject: x\n\nline one\nline two")
    assert smtp_server.wait_for(1)[0].data == b"Subject: x\r\n\r\nline one\r\nline two\r\n"


def test_wire_data_stuffs_dots_and_terminates():
    assert wire_data(b".a\n.\nb") == b"..a\r\n..\r\nb\r\n.\r\n"
    assert wire_data(b"x\r\n") == b"x\r\n.\r\n"


@pytest.mark.parametrize(
    "reply", ["421 4.3.2 Service shutting down", "451 4.3.0 Try again later", "452 4.2.2 Full"]
)
def test_4xx_at_rcpt_is_transient(smtp_server, reply):
    smtp_server.plan = FaultPlan(rcpt={"ada@example.test": reply})
    with pytest.raises(TransientMailError) as info:
        send_one(smtp_server)
    assert info.value.code == int(reply[:3])
    assert reply[4:] in info.value.reason
    assert smtp_server.messages == []


def test_552_at_rcpt_is_transient(smtp_server):
    # RFC 5321 4.5.3.1.10: "too many recipients" at RCPT is treated as temporary.
    smtp_server.plan = FaultPlan(rcpt={"*": "552 5.5.3 Too many recipients"})
    with pytest.raises(TransientMailError) as info:
        send_one(smtp_server)
    assert info.value.code == 552


def refused_then_sent(server, refused: str, then: str) -> PermanentRecipientError:
    """Send to `refused` (which must fail for good) and then to `then` in one session."""
    with SmtpSession(server.settings()) as smtp:
        with pytest.raises(PermanentRecipientError) as info:
            smtp.send(FROM, refused, make_message(refused))
        assert smtp.send(FROM, then, make_message(then))[0] == 250
    return info.value


def test_550_at_rcpt_fails_this_recipient_only(smtp_server):
    smtp_server.plan = FaultPlan(rcpt={"bad@example.test": "550 5.1.1 No such user"})
    error = refused_then_sent(smtp_server, "bad@example.test", "ok@example.test")
    assert error.code == 550
    assert error.reason == "mailbox unavailable (550 5.1.1 No such user)"
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["ok@example.test"]]
    assert smtp_server.connections == 1  # a refused recipient does not cost the connection


def test_5xx_after_data_is_permanent(smtp_server):
    smtp_server.plan = FaultPlan(data={"ada@example.test": "554 5.6.0 Message rejected as spam"})
    error = refused_then_sent(smtp_server, "ada@example.test", "bob@example.test")
    assert error.code == 554
    assert "Message rejected as spam" in error.reason
    assert smtp_server.connections == 1


def test_4xx_after_data_is_transient(smtp_server):
    smtp_server.plan = FaultPlan(data={"*": "451 4.7.1 Greylisted"})
    with pytest.raises(TransientMailError) as info:
        send_one(smtp_server)
    assert info.value.code == 451


def test_5xx_for_the_sender_stops_the_run(smtp_server):
    smtp_server.plan = FaultPlan(mail_from={"reports@quiz.example": "553 5.7.1 Sender not allowed"})
    with pytest.raises(RunStoppingError) as info:
        send_one(smtp_server)
    assert info.value.code == 553
    assert "sender" in info.value.reason


def test_4xx_for_the_sender_is_transient(smtp_server):
    smtp_server.plan = FaultPlan(mail_from={"*": "451 4.3.0 Try later"})
    with pytest.raises(TransientMailError):
        send_one(smtp_server)


def test_login_with_the_right_password_sends():
    with SmtpTestServer(credentials=("reports", PASSWORD)) as server:
        assert send_one(server)[0] == 250


def test_wrong_password_stops_the_run_without_leaking_it():
    with (
        SmtpTestServer(credentials=("reports", "the-real-one")) as server,
        pytest.raises(RunStoppingError) as info,
    ):
        send_one(server, password=PASSWORD)
    exc = info.value
    assert exc.code == 535
    assert exc.reason.startswith("authentication failed (535")
    for text in (str(exc), exc.reason, repr(exc), repr(exc.args)):
        assert PASSWORD not in text
        assert "reports" not in text
    assert exc.__cause__ is None  # smtplib's exception is not chained into logs
    assert server.messages == []


def test_server_requiring_login_stops_the_run():
    with (
        SmtpTestServer(credentials=("reports", PASSWORD)) as server,
        pytest.raises(RunStoppingError) as info,
    ):
        send_one(server, username="", password="")
    assert info.value.code == 530


def test_settings_repr_hides_the_password():
    settings = SmtpSettings("smtp.example", 587, "reports", PASSWORD, "starttls", 10)
    assert PASSWORD not in repr(settings)


def test_settings_from_the_environment():
    environ = {
        "SMTP_SERVER": "smtp.example",
        "SMTP_PORT": "465",
        "SMTP_USERNAME": "u",
        "SMTP_PASSWORD": "p",
        "SMTP_SECURITY": "",
        "SMTP_TIMEOUT": "7.5",
    }
    settings = SmtpSettings.from_settings(Settings.from_env(environ))
    assert settings == SmtpSettings("smtp.example", 465, "u", "p", "ssl", 7.5)
    wrong = {"SMTP_SERVER": "x", "SMTP_PORT": "25", "SMTP_SECURITY": "tls"}
    with pytest.raises(ValueError):
        SmtpSettings.from_settings(Settings.from_env(wrong))


def test_starttls_required_but_not_offered_stops_the_run(smtp_server):
    with pytest.raises(RunStoppingError) as info:
        send_one(smtp_server, security="starttls")
    assert "STARTTLS" in info.value.reason


def test_starttls_and_login_over_tls(self_signed, monkeypatch):
    cert, context = self_signed
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our test certificate
    with SmtpTestServer(credentials=("reports", PASSWORD), tls_context=context) as server:
        assert send_one(server, security="starttls")[0] == 250
        assert check_connection(server.settings(security="starttls")) == (
            f"connected to 127.0.0.1:{server.port}, upgraded with STARTTLS, logged in"
        )


def test_untrusted_certificate_stops_the_run(self_signed):
    _cert, context = self_signed
    with SmtpTestServer(tls_context=context) as server, pytest.raises(RunStoppingError) as info:
        send_one(server, security="starttls")
    assert info.value.reason.startswith("the TLS certificate of 127.0.0.1 could not be verified")


def test_implicit_tls_against_a_plaintext_port_stops_the_run(smtp_server):
    with pytest.raises(RunStoppingError) as info:
        send_one(smtp_server, security="ssl", timeout=1)
    assert "check SMTP_SECURITY and the port" in info.value.reason


def test_connection_refused_is_transient():
    port = free_port()  # nothing listens there
    settings = SmtpSettings("127.0.0.1", port, security="none", timeout=1)
    with pytest.raises(TransientMailError) as info, SmtpSession(settings) as smtp:
        smtp.send(FROM, "ada@example.test", make_message())
    assert info.value.reason == f"connection refused by 127.0.0.1:{port}"
    assert info.value.code is None


def test_timeout_before_data_is_transient(smtp_server):
    smtp_server.plan = FaultPlan(sleep_at_rcpt={"*": 2})
    with pytest.raises(TransientMailError) as info:
        send_one(smtp_server, timeout=0.5)
    assert info.value.reason == "timed out after 0.5 s waiting for the server (at RCPT TO)"
    assert smtp_server.messages == []


def test_timeout_waiting_for_the_data_reply_is_unknown(smtp_server):
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 2})
    with pytest.raises(UnknownOutcomeError) as info:
        send_one(smtp_server, timeout=0.5)
    assert "timed out after 0.5 s" in info.value.reason
    assert "may have been delivered" in info.value.reason
    assert len(smtp_server.messages) == 1  # and indeed the server has it


def test_connection_dropped_after_the_data_is_unknown(smtp_server):
    smtp_server.plan = FaultPlan(drop_after_data={"ada@example.test"})
    with pytest.raises(UnknownOutcomeError) as info:
        send_one(smtp_server)
    assert "closed the connection" in info.value.reason
    assert len(smtp_server.wait_for(1)) == 1


def test_after_a_transient_error_the_next_send_reconnects(smtp_server):
    smtp_server.plan = FaultPlan(rcpt={"ada@example.test": FirstTries(1, "421 4.4.2 Bye")})
    with SmtpSession(smtp_server.settings()) as smtp:
        with pytest.raises(TransientMailError):
            smtp.send(FROM, "ada@example.test", make_message())
        assert not smtp.connected
        assert smtp.send(FROM, "ada@example.test", make_message())[0] == 250
    assert smtp_server.connections == 2
    assert len(smtp_server.wait_for(1)) == 1


def test_a_server_gone_between_messages_is_reconnected(smtp_server):
    with SmtpSession(smtp_server.settings()) as smtp:
        smtp.send(FROM, "ada@example.test", make_message())
        smtp_server.restart()  # drops the idle connection; RSET fails, nothing was sent yet
        assert smtp.send(FROM, "bob@example.test", make_message("bob@example.test"))[0] == 250
    assert [m.rcpt_tos for m in smtp_server.wait_for(2)] == [
        ["ada@example.test"],
        ["bob@example.test"],
    ]
    assert smtp_server.connections == 1  # the one made after the restart


def test_check_connection():
    with SmtpTestServer(credentials=("reports", PASSWORD)) as server:
        words = check_connection(server.settings())
        assert words == f"connected to 127.0.0.1:{server.port}, logged in"
        with pytest.raises(RunStoppingError):
            check_connection(server.settings(password="wrong"))


@pytest.mark.parametrize(
    ("code", "text", "words"),
    [
        (550, "5.1.1 no such user", "mailbox unavailable (550 5.1.1 no such user)"),
        (535, b"5.7.8 bad\r\n  credentials", "authentication failed (535 5.7.8 bad credentials)"),
        (499, "", "temporary failure (499)"),
        (-1, "garbage", "unreadable reply from the server (garbage)"),
    ],
)
def test_describe_smtp_reply(code, text, words):
    assert describe_smtp_reply(code, text) == words


# --- Round trips: PIPELINING where offered, RSET only when needed ---------------------------


@pytest.fixture(params=["pipelining", "one command at a time"])
def either_server(request, make_smtp_server):
    """The test server offering PIPELINING, or not: the client must behave the same."""
    return make_smtp_server(pipelining=request.param == "pipelining")


def test_clean_connections_are_not_reset_between_messages(either_server):
    with SmtpSession(either_server.settings()) as smtp:
        for n in range(5):
            to = f"learner{n}@example.test"
            assert smtp.send(FROM, to, make_message(to))[0] == 250
    assert len(either_server.wait_for(5)) == 5
    assert (either_server.connections, either_server.resets) == (1, 0)


def test_a_refused_recipient_then_one_rset_then_the_next_message(either_server):
    either_server.plan = FaultPlan(rcpt={"bad@example.test": "550 5.1.1 No such user"})
    error = refused_then_sent(either_server, "bad@example.test", "ok@example.test")
    assert (error.code, error.step) == (550, "rcpt")
    assert [m.rcpt_tos for m in either_server.wait_for(1)] == [["ok@example.test"]]
    assert (either_server.connections, either_server.resets) == (1, 1)


def test_a_refused_sender_is_judged_at_mail_from(either_server):
    either_server.plan = FaultPlan(mail_from={"*": "553 5.7.1 Sender not allowed"})
    with pytest.raises(RunStoppingError) as info:
        send_one(either_server)
    assert (info.value.code, info.value.step) == (553, "mail")
    assert either_server.messages == []


def test_greylisting_at_rcpt_is_transient_and_the_connection_stays(either_server):
    either_server.plan = FaultPlan(rcpt={"ada@example.test": FirstTries(1, "451 4.7.1 Later")})
    with SmtpSession(either_server.settings()) as smtp:
        with pytest.raises(TransientMailError) as info:
            smtp.send(FROM, "ada@example.test", make_message())
        assert (info.value.code, info.value.step) == (451, "rcpt")
        assert smtp.send(FROM, "ada@example.test", make_message())[0] == 250
    assert len(either_server.wait_for(1)) == 1


def test_a_timeout_at_rcpt_is_transient_and_nothing_arrives(either_server):
    either_server.plan = FaultPlan(sleep_at_rcpt={"*": 2})
    with pytest.raises(TransientMailError) as info:
        send_one(either_server, timeout=0.5)
    assert info.value.step == "rcpt"
    assert either_server.messages == []


def test_a_lost_reply_after_the_data_is_unknown(either_server):
    either_server.plan = FaultPlan(drop_after_data=["ada@example.test"])
    with pytest.raises(UnknownOutcomeError):
        send_one(either_server)
    assert len(either_server.wait_for(1)) == 1


def test_421_at_the_first_command_of_a_reused_connection_is_retried_on_a_new_one(either_server):
    with SmtpSession(either_server.settings()) as smtp:
        assert smtp.send(FROM, "ada@example.test", make_message())[0] == 250
        # The connection sat idle and the server timed it out: the next MAIL FROM (its
        # second) is answered with 421, and nothing of the message was sent.
        either_server.plan = FaultPlan(
            mail_from={"reports@quiz.example": FirstTries(2, "421 4.4.2 Idle timeout")}
        )
        bob = make_message("bob@example.test")
        assert smtp.send(FROM, "bob@example.test", bob)[0] == 250
    assert [m.rcpt_tos for m in either_server.wait_for(2)] == [
        ["ada@example.test"],
        ["bob@example.test"],
    ]
    assert either_server.connections == 2


def test_421_at_rcpt_is_left_for_a_later_try(either_server):
    either_server.plan = FaultPlan(rcpt={"bob@example.test": FirstTries(1, "421 4.7.0 Busy")})
    with SmtpSession(either_server.settings()) as smtp:
        assert smtp.send(FROM, "ada@example.test", make_message())[0] == 250
        with pytest.raises(TransientMailError) as info:
            smtp.send(FROM, "bob@example.test", make_message("bob@example.test"))
    assert (info.value.code, info.value.step) == (421, "rcpt")
    assert [m.rcpt_tos for m in either_server.wait_for(1)] == [["ada@example.test"]]


def test_canonical_messages_go_out_as_they_are():
    message = b"Subject: x\r\n\r\nline one\r\nline two\r\n"
    assert wire_data(message) == message + b".\r\n"
    # A bare LF or a leading dot still takes the careful path.
    assert wire_data(b"a\nb\r\n") == b"a\r\nb\r\n.\r\n"
    assert wire_data(b".x\r\n") == b"..x\r\n.\r\n"
