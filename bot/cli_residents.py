"""``plaza residents verify|unlink`` and ``plaza privacy purge``: the clerk's and the admin's commands.

- ``plaza residents verify --name N [--document D] [--contact C]``: register
  (or find, by the ID number) a resident and print a one-time code for the
  clerk to read to them. Without ``--document`` the number is asked for
  without echo (so it stays out of the shell's history). It is never printed
  or logged.
- ``plaza residents unlink --channel C --account ID``: unlink one channel
  account; ``--document D`` unlinks every account of that resident.
- ``plaza privacy purge``: blank message bodies older than ``privacy.retention_days``.

:func:`add_parsers` adds the commands to ``plaza``'s parser and :func:`run`
runs them (``None`` for a command that is not one of these).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.access import CLI
from bot.appointments import town_zone
from bot.config import Config

__all__ = ["add_parsers", "run"]

EXIT_OK, EXIT_PROBLEMS, EXIT_CONFIG = 0, 1, 2


def add_parsers(commands: Any) -> None:
    """Add ``residents`` and ``privacy`` to ``plaza``'s sub-commands."""
    residents = commands.add_parser("residents", help="residents verified at the town hall")
    actions = residents.add_subparsers(dest="residents_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="register or find a resident and print a one-time code for them")
    verify.add_argument("--name", required=True, help="the resident's name, as on their ID")
    verify.add_argument("--document", help="their ID document number (asked for without echo when left out)")
    verify.add_argument("--contact", help="a phone or email, if they want to give one")
    unlink = actions.add_parser("unlink", help="unlink a channel account (or all of a resident's) from the resident")
    unlink.add_argument("--channel", help="the account's channel: telegram, mastodon, x, web...")
    unlink.add_argument("--account", help="the account's id on that channel")
    unlink.add_argument("--document", help="unlink every account of the resident with this ID document number")

    privacy = commands.add_parser("privacy", help="residents' data")
    privacy_actions = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    privacy_actions.add_parser("purge", help="blank message bodies older than privacy.retention_days")


def run(config: Config, args: argparse.Namespace) -> int | None:
    """Run ``args`` if it is one of these commands."""
    if args.command == "residents" and args.residents_command == "verify":
        document = args.document or getpass.getpass("ID document number: ")
        return _verify(config, args.name, document, args.contact)
    if args.command == "residents" and args.residents_command == "unlink":
        return _unlink(config, args.channel, args.account, args.document)
    if args.command == "privacy":
        return _purge(config)
    return None


def _verify(config: Config, name: str, document: str, contact: str | None) -> int:
    from bot.identity import DocumentError
    from bot.secretkey import SecretKeys
    from bot.verification import issue_code
    from models.db import Database

    database = Database(config.database_url)
    try:
        database.check_schema()
        keys = SecretKeys(config).for_url(config.database_url)
        with database.writer.begin() as connection:
            issued = issue_code(
                connection, keys, CLI, name=name, document=document, contact=contact, now=datetime.now(UTC)
            )
    except DocumentError as error:
        print(f"plaza residents verify: {error} — nothing was stored", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        database.dispose()
    until = issued.expires_at.astimezone(town_zone(config))
    who = "new resident" if issued.new_resident else "resident"
    print(f"{who} {issued.resident_id} ({name}): code {issued.code}, valid until {until:%H:%M}")
    print(f"the resident sends it to the bot: verificar {issued.code}")
    return EXIT_OK


def _unlink(config: Config, channel: str | None, account: str | None, document: str | None) -> int:
    from bot.identity import DocumentError, document_hash
    from bot.secretkey import SecretKeys
    from bot.verification import unlink_account
    from models import ChannelIdentity, Resident
    from models.db import Database

    if (channel is None) != (account is None) or (document is None) == (channel is None):
        print("plaza residents unlink: give --channel and --account, or --document", file=sys.stderr)
        return EXIT_CONFIG
    identities = ChannelIdentity.__table__  # type: ignore[attr-defined]
    residents = Resident.__table__  # type: ignore[attr-defined]
    database = Database(config.database_url)
    try:
        database.check_schema()
        now = datetime.now(UTC)
        with database.writer.begin() as connection:
            if document is not None:
                hashed = document_hash(SecretKeys(config).for_url(config.database_url), document)
                accounts = [
                    (row.channel, row.platform_user_id)
                    for row in connection.execute(
                        select(identities.c.channel, identities.c.platform_user_id)
                        .join(residents, residents.c.id == identities.c.resident_id)
                        .where(residents.c.document_hash == hashed)
                    )
                ]
            else:
                assert channel is not None and account is not None
                accounts = [(channel, account)]
            done = [
                f"{one}:{user}"
                for one, user in accounts
                if unlink_account(connection, CLI, channel=one, platform_user_id=user, now=now)
            ]
    except DocumentError as error:
        print(f"plaza residents unlink: {error}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        database.dispose()
    if not done:
        print("no linked account found — nothing was changed", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"unlinked: {', '.join(done)}")
    return EXIT_OK


def _purge(config: Config) -> int:
    from bot.privacy import purge
    from models.db import Database

    database = Database(config.database_url)
    try:
        database.check_schema()
        purged = purge(database.writer, config.privacy.retention_days, datetime.now(UTC))
    finally:
        database.dispose()
    print(f"blanked {purged} message bodies older than {config.privacy.retention_days} days")
    return EXIT_OK
