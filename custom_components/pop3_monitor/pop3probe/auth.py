"""Logging in: choosing a mechanism from the capabilities and running its exchange."""

from __future__ import annotations

from . import sasl
from .commands import Command, build_command, build_sasl_continuation
from .errors import AuthFailedError, ConfigurationError, ProtocolError
from .models import AuthMechanism, MailboxConfig
from .replies import Capabilities
from .session import Pop3Session, Reply

# Logins that take no challenge: they can be pipelined with the commands that follow them.
ONE_STEP_LOGINS = frozenset({AuthMechanism.USER, AuthMechanism.PLAIN})


def choose_mechanism(config: MailboxConfig, caps: Capabilities, capa_ok: bool) -> AuthMechanism:
    """`auto`: SASL PLAIN when offered, else USER/PASS (also when CAPA was refused), else LOGIN."""
    if config.auth is not AuthMechanism.AUTO:
        return config.auth
    if "PLAIN" in caps.sasl:
        return AuthMechanism.PLAIN
    if "USER" in caps.tags or not capa_ok or "LOGIN" not in caps.sasl:
        return AuthMechanism.USER
    return AuthMechanism.LOGIN


def read_secret(session: Pop3Session, config: MailboxConfig) -> str:
    """The password or token, but only over TLS unless insecure auth is explicitly allowed."""
    if session.ssl_object is None and not config.allow_insecure_auth:
        raise ConfigurationError("refusing to send credentials without TLS")
    return config.secret.read()


def login_commands(config: MailboxConfig, mechanism: AuthMechanism, secret: str) -> list[Command]:
    """The commands of a one-step login: USER/PASS, or AUTH PLAIN with an initial response."""
    if mechanism is AuthMechanism.USER:
        return [build_command("USER", config.username), build_command("PASS", secret)]
    if mechanism is AuthMechanism.PLAIN:
        response = sasl.plain_initial_response(config.username, secret)
        return [build_command("AUTH", "PLAIN", response)]
    raise ValueError(f"{mechanism} is not a one-step login")


async def authenticate(
    session: Pop3Session,
    config: MailboxConfig,
    mechanism: AuthMechanism,
    *,
    pipelining: bool,
    apop_timestamp: bytes | None,
) -> bool:
    """Log in or raise (AuthFailedError or another classified error). Never logs the secret.

    Returns True when the login took one step, so the next session may pipeline it.
    """
    secret = read_secret(session, config)
    user = config.username
    if mechanism is AuthMechanism.USER:
        commands = login_commands(config, mechanism, secret)
        if pipelining:
            await session.write_batch(commands)
            replies = [await session.read_reply(c) for c in commands]
        else:
            replies = [await session.execute(commands[0])]
            replies[0].raise_for_error()
            replies.append(await session.execute(commands[1]))
        for reply in replies:
            reply.raise_for_error()
        return True
    if mechanism is AuthMechanism.PLAIN:
        (command,) = login_commands(config, mechanism, secret)
        # A server that takes no initial response answers '+ ': send the same data then.
        return await _sasl(session, command, [sasl.plain_initial_response(user, secret)])
    if mechanism is AuthMechanism.XOAUTH2:
        response = sasl.xoauth2_initial_response(user, secret)
        # On failure the server sends a '+ ' challenge with JSON details; the answer is empty.
        await _sasl(session, build_command("AUTH", "XOAUTH2", response), [""])
        return False
    if mechanism is AuthMechanism.LOGIN:
        answers = [sasl.login_username(user), sasl.login_password(secret)]
        await _sasl(session, build_command("AUTH", "LOGIN"), answers)
        return False
    if apop_timestamp is None:
        raise AuthFailedError("APOP requested but the greeting carries no timestamp")
    reply = await session.execute(
        build_command("APOP", user, sasl.apop_digest(apop_timestamp, secret))
    )
    reply.raise_for_error()
    return False


async def _sasl(session: Pop3Session, command: Command, continuations: list[str]) -> bool:
    """AUTH exchange (RFC 5034): answer each '+ ' challenge in turn, at most len(continuations).

    Returns True when the server needed no challenge (the login took one step).
    """
    reply: Reply = await session.execute(command)
    one_step = not reply.status.continuation
    for answer in [*continuations, "*"]:  # out of answers: '*' cancels the exchange
        if not reply.status.continuation:
            break
        reply = await session.execute(build_sasl_continuation(answer))
    if reply.status.continuation:
        raise ProtocolError("server keeps sending SASL challenges after a cancel")
    reply.raise_for_error()
    return one_step
