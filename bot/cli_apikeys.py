"""``plaza apikeys create|list|revoke``: the keys Open311 clients use to create service requests.

``create NAME`` prints the key once (only its hash is stored); ``list`` shows
names, dates and whether each is active; ``revoke NAME`` stops a key at once.
Exit codes as :mod:`bot.cli`: 0 done, 1 an unknown or taken name, 3 the database.
"""

from __future__ import annotations

import argparse
import sys

from bot.config import Config

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``apikeys`` and its actions to the ``plaza`` command's subparsers."""
    apikeys = commands.add_parser("apikeys", help="keys for Open311 clients that create service requests")
    actions = apikeys.add_subparsers(dest="apikeys_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (once: only its hash is kept)")
    create.add_argument("name", help="who uses it, e.g. fixmystreet or town-website")
    actions.add_parser("list", help="every key: name, created, revoked")
    revoke = actions.add_parser("revoke", help="stop a key from working, at once")
    revoke.add_argument("name", help="the key's name")


def run(config: Config, args: argparse.Namespace) -> int:
    from bot.apikeys import ApiKeyError, create_key, list_keys, revoke_key
    from models.db import Database

    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            if args.apikeys_command == "create":
                key = create_key(connection, args.name)
                print(f"{args.name}: {key}")
                print("keep it now: it is not stored and cannot be shown again", file=sys.stderr)
            elif args.apikeys_command == "list":
                keys = list_keys(connection)
                if not keys:
                    print("no API keys yet — `plaza apikeys create NAME` makes one")
                for info in keys:
                    state = "active" if info.active else f"revoked {info.revoked_at:%Y-%m-%d %H:%M} UTC"
                    print(f"{info.name}\tcreated {info.created_at:%Y-%m-%d %H:%M} UTC\t{state}")
            elif revoke_key(connection, args.name):
                print(f"{args.name}: revoked")
            else:
                print(f"{args.name}: was already revoked")
    except ApiKeyError as error:
        print(f"plaza apikeys: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    return EXIT_OK
