"""Login exchanges real servers vary in: APOP's digest, the XOAUTH2 failure challenge, a PLAIN
server that takes no initial response. Checked on the wire with the scripted server."""

from __future__ import annotations

import base64

from pop3probe import AuthMechanism, ErrorClass, MailboxConfig, SecretSource, TlsMode, poll_mailbox
from tests.fixtures.scripted import Connection, ScriptedServer, scripted_server


def _config(server: ScriptedServer, auth: AuthMechanism, secret: str = "tanstaaf") -> MailboxConfig:
    return MailboxConfig(
        host="127.0.0.1",
        port=server.port,
        username="mrose",
        secret=SecretSource(value=secret),
        auth=auth,
        tls_mode=TlsMode.PLAIN,
        allow_insecure_auth=True,
        timeout=2,
    )


async def test_apop_sends_the_rfc_1939_digest_of_the_greeting_timestamp() -> None:
    greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
    async with scripted_server(replies={"GREETING": greeting}) as server:
        snapshot = await poll_mailbox(_config(server, AuthMechanism.APOP))
    assert snapshot.error is ErrorClass.OK
    apop = next(line for line in server.received if line.startswith(b"APOP"))
    # RFC 1939's own example: this timestamp and secret give this digest.
    assert apop == b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"


async def test_apop_without_a_greeting_timestamp_fails_before_sending_anything_secret() -> None:
    async with scripted_server(replies={"GREETING": b"+OK ready\r\n"}) as server:
        snapshot = await poll_mailbox(_config(server, AuthMechanism.APOP))
    assert snapshot.error is ErrorClass.AUTH_FAILED
    assert "timestamp" in snapshot.error_text
    assert "APOP" not in server.verbs


async def test_xoauth2_failure_challenge_is_answered_empty_and_reported_as_auth_failed() -> None:
    details = base64.b64encode(b'{"status":"401","schemes":"bearer"}')

    async def refuse(conn: Connection) -> None:
        await conn.send(b"+ " + details + b"\r\n")
        assert await conn.reader.readline() == b"\r\n"  # the client's empty response
        await conn.send(b"-ERR [AUTH] invalid token\r\n")

    async with scripted_server(replies={"AUTH": refuse}) as server:
        snapshot = await poll_mailbox(_config(server, AuthMechanism.XOAUTH2, "expired-token"))
    assert snapshot.error is ErrorClass.AUTH_FAILED
    assert snapshot.server_text == "invalid token"


async def test_plain_without_initial_response_support_gets_the_response_after_the_challenge() -> (
    None
):
    async def challenge_first(conn: Connection) -> None:
        await conn.send(b"+ \r\n")
        response = await conn.reader.readline()
        expected = base64.b64encode(b"\0mrose\0tanstaaf") + b"\r\n"
        await conn.send(b"+OK\r\n" if response == expected else b"-ERR bad\r\n")

    async with scripted_server(replies={"AUTH": challenge_first}) as server:
        snapshot = await poll_mailbox(_config(server, AuthMechanism.PLAIN))
    assert snapshot.error is ErrorClass.OK, snapshot.error_text
    assert snapshot.messages == 2


async def test_sasl_login_exchange_answers_both_challenges() -> None:
    async def login(conn: Connection) -> None:
        answers = []
        for prompt in (b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6"):
            await conn.send(b"+ " + prompt + b"\r\n")
            answers.append(base64.b64decode((await conn.reader.readline()).strip()))
        await conn.send(b"+OK\r\n" if answers == [b"mrose", b"tanstaaf"] else b"-ERR no\r\n")

    async with scripted_server(replies={"AUTH": login}) as server:
        snapshot = await poll_mailbox(_config(server, AuthMechanism.LOGIN))
    assert snapshot.error is ErrorClass.OK, snapshot.error_text
