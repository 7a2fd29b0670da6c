"""The `pop3-exporter` command: serve, `--check-config`, `--demo`, `check`, `hash-password`.

Configuration errors are one line on stderr and exit code 2, never a traceback: the person
reading them is editing a YAML file, not debugging Python.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import DEFAULT_LISTEN_ADDRESS, DEFAULT_PORT, __version__
from .check import add_arguments as add_check_arguments
from .check import run_check
from .config import ConfigError, load_config
from .runtime import Exporter
from .serve import serve
from .sharding import Shard
from .web import parse_listen_address
from .webauth import DEFAULT_BCRYPT_COST, hash_password

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pop3-exporter",
        description="Prometheus exporter for POP3 mailboxes (read-only: STAT, LIST, TOP).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument(
        "--check-config", type=Path, metavar="FILE", help="validate FILE, print the result, exit"
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=None,
        help=f"HOST:PORT or :PORT to serve on (default {DEFAULT_LISTEN_ADDRESS}; "
        "127.0.0.1 in --demo)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS, basic auth and response headers, in exporter-toolkit's format (the "
        "web-config.yml node_exporter and blackbox_exporter read); reloaded with the config",
    )
    parser.add_argument(
        "--shard", type=_shard, metavar="I/N", help="poll only the mailboxes of shard I of N"
    )
    parser.add_argument(
        "--demo", action="store_true", help="run a built-in demo POP3S server and poll it"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default info)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check", help="poll one mailbox once; Nagios plugin output and exit codes"
    )
    add_check_arguments(check)
    hashing = commands.add_parser(
        "hash-password",
        help="read a password from the terminal/stdin, print its bcrypt hash for basic_auth_users",
    )
    hashing.add_argument(
        "--cost",
        type=int,
        default=DEFAULT_BCRYPT_COST,
        choices=range(4, 32),
        metavar="N",
        help=f"bcrypt cost, 4-31 (default {DEFAULT_BCRYPT_COST}; each step doubles the work)",
    )
    return parser


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "check":
        return run_check(args)
    if args.command == "hash-password":
        return _hash_password(args.cost)
    if args.check_config is not None:
        return _check_config(args.check_config, args.web_config_file)
    if args.listen_address is not None:
        try:
            parse_listen_address(args.listen_address)
        except ValueError as err:
            parser.error(f"--web.listen-address: {err}")
    if args.demo:
        from .demo import run_demo  # the demo's certificate code is only loaded when asked for

        address = args.listen_address or f"127.0.0.1:{DEFAULT_PORT}"
        return asyncio.run(run_demo(address, explicit_address=args.listen_address is not None))
    if args.config is None:
        parser.error("--config FILE is required (or try --demo)")
    try:
        config = load_config(args.config, web_config_file=args.web_config_file)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    exporter = Exporter(
        config, config_path=args.config, web_config_path=args.web_config_file, shard=args.shard
    )
    return asyncio.run(serve(exporter, args.listen_address or DEFAULT_LISTEN_ADDRESS))


def _check_config(path: Path, web_config_file: Path | None) -> int:
    try:
        config = load_config(path, web_config_file=web_config_file)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    web = f"; web config ok: {web_config_file}" if web_config_file else ""
    print(f"config ok: {path}: {len(config.mailboxes)} mailboxes{web}")
    return 0


def _hash_password(cost: int) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    try:
        print(hash_password(password, cost=cost))
    except ValueError as err:  # longer than bcrypt's 72 bytes
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
