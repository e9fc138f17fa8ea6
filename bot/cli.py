"""The ``plaza`` command: parse arguments, call the application, map errors to exit codes.

Exit codes: 0 done; 1 problems found (``flows validate``, an unknown ticket, a
ticket that is no proposal for ``proposals decide``, an unknown broadcast or one
that cannot be cancelled or resumed, a broadcast nobody would receive); 2 a
config or usage error (a broadcast's unknown topic or missing language); 3 the database
is unreachable or not migrated. Errors are printed as one readable line
(``file:line: key: problem — fix``), never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from bot import cli_residents
from bot.cli_officials import add_officials_parser, first_admin, run_officials
from bot.cli_relay import add_parser as add_relay_parser
from bot.cli_relay import run as run_relay
from bot.cli_worker import add_worker_parser, run_worker
from bot.config import Config, load_config
from bot.errors import ConfigError, FlowErrors, SchemaError, StorageError
from bot.logs import LOG_FORMAT_ENV, configure_logging, uvicorn_log_config

__all__ = ["main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_CONFIG, EXIT_DATABASE = 0, 1, 2, 3


def _plenary_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date — write it as YYYY-MM-DD, e.g. 2026-12-18") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plaza", description="Plaza: the town hall's chatbot platform.")
    parser.add_argument("--config", help="config file (default: $PLAZA_CONFIG or ./config.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server (web chat, webhooks) and the bot")
    serve.add_argument("--host", help="address to listen on (default from config or $PLAZA_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default from config or $PLAZA_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="engine workers in this process (PostgreSQL; default 1, 0 = only accept and send); "
        "on SQLite 0 turns the embedded processor off",
    )

    channels = commands.add_parser("channels", help="the messaging platforms Plaza talks through")
    channels_commands = channels.add_subparsers(dest="channels_command", required=True, metavar="ACTION")
    channels_commands.add_parser("check", help="for each enabled platform: can it reach its API, as which account")

    add_worker_parser(commands)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default=None, help="who you are to the bot (default: your login name)")
    chat.add_argument("--language", default=None, help="es or en (default: from $LANG)")

    flows = commands.add_parser("flows", help="work with the flow files")
    flows_commands = flows.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    validate = flows_commands.add_parser("validate", help="check flow files and print every problem")
    validate.add_argument("paths", nargs="*", type=Path, help="flow files or folders (default: the flows folder)")
    flows_commands.add_parser("test", help="run the example conversations kept in flows/examples/")
    graph = flows_commands.add_parser("graph", help="draw a flow: Mermaid text on stdout and an SVG picture")
    graph.add_argument("name", help="the flow's name, e.g. report_incident")
    graph.add_argument("--language", help="which language's texts to show (default: the town's default)")
    graph.add_argument("--out", type=Path, help="where to write the picture (default: NAME.svg here)")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply every migration")

    proposals = commands.add_parser("proposals", help="proposals residents made for the plenary agenda")
    proposals_commands = proposals.add_subparsers(dest="proposals_command", required=True, metavar="ACTION")
    decide = proposals_commands.add_parser(
        "decide", help="record the council's decision on a proposal and tell the resident who made it"
    )
    decide.add_argument("ticket", help="the proposal's ticket, e.g. JUN-2026-000007")
    decide.add_argument("decision", choices=("accepted", "rejected", "scheduled"))
    decide.add_argument("--date", type=_plenary_date, help="the plenary's date, YYYY-MM-DD (with `scheduled`)")

    requests = commands.add_parser("requests", help="service requests (incident reports)")
    requests_commands = requests.add_subparsers(dest="requests_command", required=True, metavar="ACTION")
    status = requests_commands.add_parser("status", help="set a request's status and tell its reporter and followers")
    status.add_argument("ticket", help="the request's ticket, e.g. JUN-2026-000123")
    status.add_argument("status", help="received, acknowledged, in_progress, fixed, duplicate, not_ours or closed")
    status.add_argument("--note", help="a note for the resident, added to the message")
    status.add_argument("--photo", help="a photo file (JPEG, PNG, GIF, WebP) sent to the reporter with the message")

    broadcast = commands.add_parser("broadcast", help="announcements to the subscribers of a topic")
    broadcast_commands = broadcast.add_subparsers(dest="broadcast_command", required=True, metavar="ACTION")
    send = broadcast_commands.add_parser(
        "send", help="write an announcement, preview it, and send it to every subscriber of the topic"
    )
    send.add_argument("--topic", required=True, help="a topic of config.yaml, e.g. news, jobs, outages")
    send.add_argument("--es", help="the text in Spanish")
    send.add_argument("--en", help="the text in English")
    send.add_argument(
        "--text", action="append", default=[], metavar="LANG=TEXT", help="the text in another of the town's languages"
    )
    send.add_argument("--yes", action="store_true", help="send without asking after the preview")
    send.add_argument("--author", default="cli", help="who sends it (default: cli)")
    broadcast_commands.add_parser("list", help="the latest broadcasts and their status")
    watch = broadcast_commands.add_parser("status", help="a broadcast's progress: sent/total, failures, ETA")
    watch.add_argument("id", type=int, help="the broadcast's number (see `plaza broadcast list`)")
    watch.add_argument("--follow", action="store_true", help="keep showing the progress until it is done")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between updates with --follow")
    stop = broadcast_commands.add_parser("cancel", help="stop a broadcast: what was not sent yet is not sent")
    stop.add_argument("id", type=int, help="the broadcast's number")
    again = broadcast_commands.add_parser("resume", help="finish queueing a broadcast whose send was interrupted")
    again.add_argument("id", type=int, help="the broadcast's number")
    add_relay_parser(commands)
    add_officials_parser(commands)
    from bot.cli_apikeys import add_parser as add_apikeys

    add_apikeys(commands)

    from bot.bench.cli import add_parser as add_bench

    add_bench(commands)
    cli_residents.add_parsers(commands)
    return parser


def _serve(config: Config, host: str | None, port: int | None, workers: int | None = None) -> int:
    import uvicorn

    from adapters.setup import platform_channels
    from adapters.web import WebChannel
    from bot.runtime import Plaza
    from bot.web.app import create_app

    web = WebChannel()
    if workers is not None and workers < 0:
        print("plaza serve: --workers must be 0 or more", file=sys.stderr)
        return EXIT_CONFIG
    plaza = Plaza(config, [web, *platform_channels(config, os.environ)], workers=workers)
    first_admin(plaza.database, config)
    app = create_app(plaza, web)
    bind_host, bind_port = host or config.host, port or config.port
    print(
        f"Plaza for {config.town_name}: web chat at http://{bind_host}:{bind_port}/chat "
        f"(database {plaza.database.safe_url()})",
        flush=True,
    )
    # JSON logs: uvicorn's loggers go through the root logger's JSON handler instead of its own text ones
    json_logs = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        log_level="info",
        timeout_graceful_shutdown=5,
        log_config=None if json_logs else uvicorn_log_config(uvicorn.config.LOGGING_CONFIG),
    )
    return EXIT_OK


async def _chat(config: Config, user: str, language: str | None) -> int:
    from adapters.console import ConsoleChannel
    from bot.runtime import Plaza
    from bot.throttle import UNTHROTTLED

    console = ConsoleChannel(user, language=language, town=config.town_name)
    print(f"Plaza — {config.town_name}. Escriba /salir para terminar · type /quit to leave.", flush=True)
    # the terminal is the operator's own chat: a pasted script of answers is not a flood
    plaza = Plaza(replace(config, limits=UNTHROTTLED), [console], poll_interval=0.5)
    # the bot greets (or says where we were) before anything typed is read
    await plaza.accept([console.message(None)])
    async with plaza:
        await console.closed.wait()
        # answer everything already typed before leaving (it would otherwise wait for the next chat)
        if not await plaza.settle(console.name, user, timeout=15.0):
            print("(some replies are still on their way; they will show next time)", flush=True)
    return EXIT_OK


def _validate(config: Config, paths: Sequence[Path]) -> int:
    from bot.catalog import load_snapshot

    targets = list(paths) or [config.flows_dir]
    failed = False
    for target in targets:
        folder = target if target.is_dir() else target.parent
        if not target.exists():
            print(f"{target}: no such file or folder — check the path", file=sys.stderr)
            failed = True
            continue
        try:
            snapshot = load_snapshot(replace(config, flows_dir=folder.resolve()))
        except FlowErrors as errors:
            shown = [e for e in errors.errors if target.is_dir() or Path(e.path).resolve() == target.resolve()] or list(
                errors.errors
            )
            for error in shown:
                print(error, file=sys.stderr)
            failed = True
            continue
        parts = sum(1 for flow in snapshot.flows.flows.values() if flow.part)
        count = len(snapshot.flows.flows) - parts
        with_parts = f", {parts} part{'s' if parts != 1 else ''}" if parts else ""
        print(f"{target}: ok ({count} flow{'s' if count != 1 else ''}{with_parts})")
    return EXIT_PROBLEMS if failed else EXIT_OK


def _graph(config: Config, name: str, language: str | None, out: Path | None) -> int:
    import difflib

    from bot.catalog import load_snapshot
    from bot.flowgraph import mermaid, svg

    flows = load_snapshot(config).flows.flows
    if name not in flows:
        close = difflib.get_close_matches(name, list(flows), n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"the flows are: {', '.join(sorted(flows))}"
        print(f"no flow named `{name}` — {hint}", file=sys.stderr)
        return EXIT_PROBLEMS
    chosen = language or config.default_language
    if chosen not in config.languages:
        print(f"`{chosen}` is not one of the town's languages — use {' or '.join(config.languages)}", file=sys.stderr)
        return EXIT_CONFIG
    target = out or Path(f"{name}.svg")
    target.write_text(svg(flows[name], chosen), encoding="utf-8")
    print(mermaid(flows[name], chosen))
    print(f"picture written to {target} (open it in a browser)", file=sys.stderr)
    return EXIT_OK


def _flow_tests(config: Config) -> int:
    from bot.flowtests import format_results, missing_examples, run_examples

    results = run_examples(config)
    print(format_results(results))
    missing = missing_examples(config)
    for name in missing:
        print(
            f"{config.flows_dir / (name + '.yaml')}: no example conversations — add flows/examples/{name}.yaml",
            file=sys.stderr,
        )
    return EXIT_PROBLEMS if missing or not all(result.passed for result in results) else EXIT_OK


def _upgrade(config: Config) -> int:
    from models.db import Database

    database = Database(config.database_url)
    try:
        revision = database.upgrade()
    finally:
        database.dispose()
    print(f"database {database.safe_url()} is at revision {revision}")
    return EXIT_OK


def _decide(config: Config, ticket: str, decision: str, plenary: date | None) -> int:
    from bot.proposals import DecisionError, find_request, set_proposal_decision
    from models.db import Database

    if (decision == "scheduled") != (plenary is not None):
        need = "`scheduled` needs --date YYYY-MM-DD" if plenary is None else "--date goes only with `scheduled`"
        print(f"plaza proposals decide: {need}", file=sys.stderr)
        return EXIT_CONFIG
    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            request_id = find_request(connection, ticket)
            if request_id is None:
                print(f"no request has the ticket {ticket} — check it in the resident's message", file=sys.stderr)
                return EXIT_PROBLEMS
            done = set_proposal_decision(connection, config, request_id, decision, date=plenary, now=datetime.now(UTC))
    except DecisionError as error:
        print(f"{ticket}: {error} — nothing was changed", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    told = "the resident will be told" if done.notified else "it already was; nobody was told again"
    print(f"{done.ticket}: {done.status}{f' for {plenary:%d/%m/%Y}' if plenary else ''}; {told}")
    return EXIT_OK


def _request_status(config: Config, ticket: str, status: str, note: str | None, photo_path: str | None) -> int:
    from datetime import UTC, datetime

    from bot.media import Media, PhotoRefused, checked_photo
    from bot.request_status import STATUSES, UnknownRequest, request_id_for, set_request_status
    from models.db import Database

    if status not in STATUSES:
        print(f"unknown status `{status}` — use one of: {', '.join(STATUSES)}", file=sys.stderr)
        return EXIT_CONFIG
    photo: Media | None = None
    if photo_path is not None:
        try:
            photo = checked_photo(Path(photo_path).read_bytes())
        except OSError as error:
            print(f"{photo_path}: cannot read it ({error.strerror or error}) — check the path", file=sys.stderr)
            return EXIT_CONFIG
        except PhotoRefused as refused:
            print(f"{photo_path}: {refused.reason}", file=sys.stderr)
            return EXIT_CONFIG
    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            request_id = request_id_for(connection, ticket)
            change = set_request_status(
                connection, config, request_id, status, note=note, now=datetime.now(UTC), photo=photo
            )
    except UnknownRequest as error:
        print(f"{error} — check the ticket (e.g. {config.ticket_prefix}-2026-000123)", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    if change.changed:
        print(f"{change.ticket}: {change.old_status} -> {change.status}; {change.notified} message(s) queued")
    else:
        print(f"{change.ticket} is already {change.status}; nothing sent")
    return EXIT_OK


def _broadcast(config: Config, args: argparse.Namespace) -> int:
    from bot import broadcast_commands as commands

    if args.broadcast_command == "send":
        texts = {language: text for language, text in (("es", args.es), ("en", args.en)) if text is not None}
        for item in args.text:
            language, sep, text = item.partition("=")
            if not sep or not language.strip():
                print(
                    f"plaza broadcast send: --text {item!r} — write it as LANG=TEXT, e.g. --text fr=...",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            texts[language.strip()] = text
        return commands.send(config, texts, args.topic, yes=args.yes, author=args.author)
    if args.broadcast_command == "list":
        return commands.listing(config)
    if args.broadcast_command == "status":
        return commands.status(config, args.id, follow=args.follow, interval=max(0.1, args.interval))
    if args.broadcast_command == "cancel":
        return commands.cancel(config, args.id)
    return commands.resume(config, args.id)


def _locale_language() -> str | None:
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(variable)
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return value
    return None


async def _check_channels(config: Config) -> int:
    """One line per enabled platform: the account it acts as, or why it cannot reach its API."""
    from adapters.base import Checkable
    from adapters.setup import platform_channels
    from bot.errors import ChannelError

    channels = platform_channels(config, os.environ)
    if not channels:
        print("no platform channel is enabled in config.yaml (channels: telegram, mastodon, x)")
        return EXIT_OK
    failed = False
    for channel in channels:
        if not isinstance(channel, Checkable):
            print(f"{channel.name}: cannot be checked")
            continue
        try:
            print(f"{channel.name}: ok, as {await channel.check()}")
        except ChannelError as error:
            failed = True
            reason = str(error).removeprefix(f"{channel.name}: ")
            print(f"{channel.name}: cannot reach its API — {reason}", file=sys.stderr)
    return EXIT_PROBLEMS if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("WARNING" if args.command == "chat" else "INFO")
    try:
        config = load_config(args.config)
        if args.command == "serve":
            return _serve(config, args.host, args.port, args.workers)
        if args.command == "worker":
            return run_worker(config, args)
        if args.command == "chat":
            user = args.user or getpass.getuser() or "resident"
            return asyncio.run(_chat(config, user, args.language or _locale_language()))
        if args.command == "flows" and args.flows_command == "test":
            return _flow_tests(config)
        if args.command == "flows" and args.flows_command == "graph":
            return _graph(config, args.name, args.language, args.out)
        if args.command == "flows":
            return _validate(config, args.paths)
        if args.command == "proposals":
            return _decide(config, args.ticket, args.decision, args.date)
        if args.command == "db":
            return _upgrade(config)
        if args.command == "channels":
            return asyncio.run(_check_channels(config))
        if args.command == "officials":
            return run_officials(config, args)
        if args.command == "requests":
            return _request_status(config, args.ticket, args.status, args.note, args.photo)
        if args.command == "broadcast":
            return _broadcast(config, args)
        if args.command == "relay":
            return run_relay(config, args)
        if args.command == "apikeys":
            from bot.cli_apikeys import run as run_apikeys

            return run_apikeys(config, args)
        if args.command in ("residents", "privacy"):
            return cli_residents.run(config, args) or EXIT_OK
        if args.command == "bench":
            from bot.bench.cli import run as run_bench

            return run_bench(config, args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except FlowErrors as errors:
        print("the flows have problems; fix them and start again:", file=sys.stderr)
        print(errors, file=sys.stderr)
        return EXIT_CONFIG
    except (SchemaError, StorageError) as error:
        print(f"database: {error}", file=sys.stderr)
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
