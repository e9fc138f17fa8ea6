"""``plaza officials add|list|disable|password``, and the first admin of a new installation.

:func:`add_officials_parser` adds the subcommand to ``plaza``'s parser and
:func:`run_officials` runs it (exit codes as in :mod:`bot.cli`: 0 done, 1 the
account cannot be made or found, 2 usage). Passwords are read with
``getpass`` (asked twice) or, with ``--password-stdin``, from the first line
of standard input; they are never taken as arguments, which ``ps`` would show.
Every change writes an audit row as the command line (:data:`bot.access.CLI`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.access import CLI
from bot.audit import record
from bot.config import Config
from bot.errors import OfficialError
from bot.officials import (
    MIN_PASSWORD,
    add_official,
    disable_official,
    ensure_first_admin,
    list_officials,
    set_password,
)
from models import OFFICIAL_ROLES
from models.db import Database

__all__ = ["add_officials_parser", "first_admin", "run_officials"]

_OK, _PROBLEMS, _USAGE = 0, 1, 2


def add_officials_parser(commands: Any) -> None:
    """Add ``officials`` to ``plaza``'s subcommands (``commands`` is the parser's subparsers object)."""
    officials = commands.add_parser("officials", help="officials' accounts for the web inbox")
    actions = officials.add_subparsers(dest="officials_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create an official's account (the password is asked for)")
    add.add_argument("username", help="what they log in with, e.g. maria.lopez")
    add.add_argument("--name", required=True, help="their name, as residents will see it")
    add.add_argument("--department", required=True, help="a department of config.yaml, e.g. servicios")
    add.add_argument("--role", default="official", choices=OFFICIAL_ROLES, help="default: official")
    add.add_argument("--language", help="es or en: the inbox's language for them (default: the town's)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="every official: username, name, department, role, enabled")
    disable = actions.add_parser("disable", help="disable an account; its open sessions end at once")
    disable.add_argument("username")
    password = actions.add_parser("password", help="set a new password; its open sessions end")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD} characters): ")
    if first != getpass.getpass("Repeat the password: "):
        print("the two passwords differ — nothing was changed", file=sys.stderr)
        return None
    return first


def run_officials(config: Config, args: argparse.Namespace) -> int:
    """Run one ``plaza officials`` action."""
    database = Database(config.database_url)
    try:
        database.check_schema()
        if args.officials_command == "list":
            return _list(database)
        if args.officials_command == "add":
            password = _read_password(args.password_stdin)
            if password is None:
                return _USAGE
            with database.writer.begin() as connection:
                made = add_official(
                    connection,
                    config,
                    username=args.username,
                    name=args.name,
                    department=args.department,
                    role=args.role,
                    password=password,
                    language=args.language,
                )
                record(
                    connection,
                    CLI,
                    "official_add",
                    detail={"username": made.username, "department": made.department, "role": made.role},
                )
            print(f"{made.username}: {made.name}, {made.role} of {made.department}; they can log in at /inbox")
            return _OK
        if args.officials_command == "disable":
            with database.writer.begin() as connection:
                done = disable_official(connection, args.username)
                record(connection, CLI, "official_disable", detail={"username": done.username})
            print(f"{done.username} is disabled; their sessions have ended")
            return _OK
        if args.officials_command == "password":
            password = _read_password(args.password_stdin)
            if password is None:
                return _USAGE
            with database.writer.begin() as connection:
                done = set_password(connection, args.username, password)
                record(connection, CLI, "official_password", detail={"username": done.username})
            print(f"{done.username}: new password set; their sessions have ended")
            return _OK
    except OfficialError as error:
        print(f"plaza officials {args.officials_command}: {error.reason} — nothing was changed", file=sys.stderr)
        return _PROBLEMS
    finally:
        database.dispose()
    return _USAGE


def _list(database: Database) -> int:
    with database.reader.connect() as connection:
        accounts = list_officials(connection)
    if not accounts:
        print("no officials yet — add one with `plaza officials add USERNAME --name N --department D`")
        return _OK
    width = max(len(account.username) for account in accounts)
    for account in accounts:
        state = "disabled" if account.disabled else "enabled"
        print(f"{account.username:<{width}}  {account.department:<12} {account.role:<8} {state:<8} {account.name}")
    return _OK


def first_admin(database: Database, config: Config) -> None:
    """On a server with no officials at all, create ``admin`` and print its password once."""
    with database.writer.begin() as connection:
        password = ensure_first_admin(connection, config)
        if password is not None:
            record(connection, CLI, "official_add", detail={"username": "admin", "role": "admin", "first": True})
    if password is not None:
        print(
            "No officials yet: created the town admin `admin` with the password\n\n"
            f"    {password}\n\n"
            "Log in at /inbox and keep it safe; it is shown only this once "
            "(change it with `plaza officials password admin`).",
            flush=True,
        )
