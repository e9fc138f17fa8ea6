"""``plaza relay link|unlink|list``: which messenger accounts officials get their handoffs on.

:func:`add_parser` adds the ``relay`` command to ``plaza``'s parser and
:func:`run` runs it (``bot.cli`` maps the exit codes: 0 done, 1 refused,
with the reason on one line).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.config import Config
from bot.errors import OfficialError
from bot.relay import RELAY_CHANNELS

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(commands: Any) -> None:
    """Add ``relay`` and its actions to ``plaza``'s sub-commands."""
    relay = commands.add_parser("relay", help="officials' own messenger accounts, where their handoffs are relayed")
    actions = relay.add_subparsers(dest="relay_command", required=True, metavar="ACTION")
    channels = ", ".join(RELAY_CHANNELS)
    link = actions.add_parser("link", help="link an official's account: new handoffs of their department go there")
    link.add_argument("username", help="the official's username (see `plaza officials list`)")
    link.add_argument("channel", help=f"where: {channels}")
    link.add_argument("platform_user_id", help="the account's id on that platform (Telegram user id, Mastodon id)")
    link.add_argument("--chat-id", help="where to write to them (default: the account id, their private chat)")
    unlink = actions.add_parser("unlink", help="stop relaying to an official's account")
    unlink.add_argument("username")
    unlink.add_argument("channel", help=f"where: {channels}")
    unlink.add_argument("platform_user_id", nargs="?", help="which account (default: all on that channel)")
    listing = actions.add_parser("list", help="the linked accounts")
    listing.add_argument("username", nargs="?", help="only this official's")


def run(config: Config, args: argparse.Namespace) -> int:
    """Run ``plaza relay ...`` as parsed by :func:`add_parser`."""
    from bot.relay_links import link_account, links, unlink_account
    from models.db import Database

    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            if args.relay_command == "link":
                done = link_account(connection, args.username, args.channel, args.platform_user_id, args.chat_id)
                print(
                    f"{done.username} ({done.department}) gets handoffs on {done.channel} "
                    f"account {done.platform_user_id} (chat {done.chat_id})"
                    + (" — the account is disabled: nothing is relayed until it is enabled" if done.disabled else "")
                )
            elif args.relay_command == "unlink":
                removed = unlink_account(connection, args.username, args.channel, args.platform_user_id)
                print(f"{args.username}: {removed} {args.channel} account(s) unlinked")
            else:
                found = links(connection, args.username)
                if not found:
                    print("no official has linked a messenger account (plaza relay link USERNAME CHANNEL ID)")
                for link in found:
                    disabled = " (disabled)" if link.disabled else ""
                    print(
                        f"{link.username}{disabled}\t{link.department}\t{link.channel}\t"
                        f"{link.platform_user_id}\tchat {link.chat_id}"
                    )
    except OfficialError as error:
        print(f"plaza relay {args.relay_command}: {error} — nothing was changed", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    return EXIT_OK
