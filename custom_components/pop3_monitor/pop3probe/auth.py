"""Logging in: choosing a mechanism from the capabilities and running its exchange."""

from __future__ import annotations

from . import sasl
from .commands import build_command, build_sasl_continuation
from .errors import AuthFailedError, ConfigurationError, ProtocolError
from .models import AuthMechanism, MailboxConfig
from .replies import Capabilities
from .session import Pop3Session, Reply


def choose_mechanism(config: MailboxConfig, caps: Capabilities, capa_ok: bool) -> AuthMechanism:
    """`auto`: SASL PLAIN when offered, else USER/PASS (also when CAPA was refused), else LOGIN."""
    if config.auth is not AuthMechanism.AUTO:
        return config.auth
    if "PLAIN" in caps.sasl:
        return AuthMechanism.PLAIN
    if "USER" in caps.tags or not capa_ok or "LOGIN" not in caps.sasl:
        return AuthMechanism.USER
    return AuthMechanism.LOGIN


async def authenticate(
    session: Pop3Session,
    config: MailboxConfig,
    mechanism: AuthMechanism,
    *,
    pipelining: bool,
    apop_timestamp: bytes | None,
) -> None:
    """Log in or raise (AuthFailedError or another classified error). Never logs the secret."""
    if session.ssl_object is None and not config.allow_insecure_auth:
        raise ConfigurationError("refusing to send credentials without TLS")
    secret = config.secret.read()
    user = config.username
    if mechanism is AuthMechanism.USER:
        commands = [build_command("USER", user), build_command("PASS", secret)]
        if pipelining:
            session.write_batch(commands)
            replies = [await session.read_reply(c) for c in commands]
        else:
            replies = [await session.execute(commands[0])]
            replies[0].raise_for_error()
            replies.append(await session.execute(commands[1]))
        for reply in replies:
            reply.raise_for_error()
    elif mechanism is AuthMechanism.PLAIN:
        response = sasl.plain_initial_response(user, secret)
        await _sasl(session, "PLAIN", response, [response])
    elif mechanism is AuthMechanism.XOAUTH2:
        response = sasl.xoauth2_initial_response(user, secret)
        # On failure the server sends a '+ ' challenge with JSON details; the answer is empty.
        await _sasl(session, "XOAUTH2", response, [""])
    elif mechanism is AuthMechanism.LOGIN:
        await _sasl(
            session, "LOGIN", None, [sasl.login_username(user), sasl.login_password(secret)]
        )
    else:
        if apop_timestamp is None:
            raise AuthFailedError("APOP requested but the greeting carries no timestamp")
        reply = await session.execute(
            build_command("APOP", user, sasl.apop_digest(apop_timestamp, secret))
        )
        reply.raise_for_error()


async def _sasl(
    session: Pop3Session, mechanism: str, initial: str | None, continuations: list[str]
) -> None:
    """AUTH exchange (RFC 5034): answer each '+ ' challenge in turn, at most len(continuations)."""
    command = build_command("AUTH", mechanism, *([initial] if initial else []))
    reply: Reply = await session.execute(command)
    for answer in [*continuations, "*"]:  # out of answers: '*' cancels the exchange
        if not reply.status.continuation:
            break
        reply = await session.execute(build_sasl_continuation(answer))
    if reply.status.continuation:
        raise ProtocolError("server keeps sending SASL challenges after a cancel")
    reply.raise_for_error()
