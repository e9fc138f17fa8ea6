"""``plaza broadcast``: send, list, status (with a progress bar), cancel and resume, for :mod:`bot.broadcast`.

The sending itself is done by the dispatchers of the running ``plaza serve``
(they poll the outbox): ``send`` writes the broadcast's outbox rows and
returns; ``status --follow`` watches them go. Each function returns the exit
code; :mod:`bot.cli` parses the arguments and maps errors (a usage error is
2, an unknown broadcast 1, the database 3).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from bot.broadcast import (
    BroadcastError,
    BroadcastPreview,
    BroadcastProgress,
    UnknownBroadcast,
    cancel_broadcast,
    create_broadcast,
    eta_text,
    list_broadcasts,
    preview,
    progress,
    settle_broadcasts,
    start_broadcast,
    undelivered,
)
from bot.config import Config
from models.db import Database

__all__ = ["cancel", "listing", "progress_bar", "resume", "send", "status"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
BAR_WIDTH = 30
SHOWN_FAILURES = 10


def progress_bar(shown: BroadcastProgress, width: int = BAR_WIDTH) -> str:
    """``[#########---------]  50%  5000/10000 sent · 3 failed · 120.0/s · ETA 41s · sending``."""
    total = max(shown.total, 1)
    filled = round(width * shown.settled / total)
    percent = 100 * shown.settled // total if shown.total else 100
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {percent:3d}%", f"{shown.sent}/{shown.total} sent"]
    if shown.failed:
        parts.append(f"{shown.failed} failed")
    if shown.cancelled:
        parts.append(f"{shown.cancelled} cancelled")
    if shown.rate is not None:
        parts.append(f"{shown.rate:.1f}/s")
    if shown.status == "sending":
        parts.append(f"ETA {eta_text(shown.eta_seconds)}")
    parts.append(shown.status if shown.expanded or shown.finished else f"{shown.status} (still queueing)")
    return " · ".join(parts)


def _print_preview(shown: BroadcastPreview, out: TextIO) -> None:
    print(f"Broadcast {shown.broadcast_id} to `{shown.topic}`", file=out)
    for language, text in shown.messages.items():
        readers = shown.languages.get(language, 0)
        print(f"\n--- what {readers} subscriber(s) reading {language} will get ---\n{text}", file=out)
    for channel, text in shown.public.items():
        print(f"\n--- public post on {channel} ---\n{text}", file=out)
    channels = ", ".join(f"{channel}: {count}" for channel, count in shown.recipients.items()) or "nobody"
    print(f"\nRecipients: {channels} (total {sum(shown.recipients.values())})", file=out)


def send(
    config: Config,
    texts: Mapping[str, str],
    topic: str,
    *,
    yes: bool,
    author: str = "cli",
    ask: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
) -> int:
    """Create the broadcast, show the preview, ask (unless ``yes``), then queue every message."""
    database = Database(config.database_url)
    try:
        database.check_schema()
        try:
            with database.writer.begin() as connection:
                broadcast_id = create_broadcast(connection, config, topic=topic, texts=texts, author=author)
        except BroadcastError as error:
            flags = " ".join(f"--{language} TEXT" for language in error.missing)
            hint = f" (give {flags})" if flags else ""
            print(f"plaza broadcast send: {error}{hint}", file=sys.stderr)
            return EXIT_USAGE
        with database.reader.connect() as connection:
            shown = preview(connection, broadcast_id)
        _print_preview(shown, out)
        if not shown.recipients and not shown.public:
            with database.writer.begin() as connection:
                cancel_broadcast(connection, broadcast_id)
            print(f"nobody follows `{topic}` yet and no public account is enabled: nothing to send", file=sys.stderr)
            return EXIT_PROBLEMS
        if not yes:
            try:
                answer = ask(f"\nSend it to {shown.total} recipient(s)? [y/N] ")
            except EOFError:
                answer = ""
            print(file=out)
            if answer.strip().lower() not in ("y", "yes", "s", "si", "sí"):
                with database.writer.begin() as connection:
                    cancel_broadcast(connection, broadcast_id)
                print(f"not sent (broadcast {broadcast_id} is cancelled)", file=out)
                return EXIT_OK
        queued = start_broadcast(database.writer, broadcast_id)
        with database.reader.connect() as connection:
            started = progress(connection, broadcast_id)
    finally:
        database.dispose()
    public = f" and {len(shown.public)} public post(s)" if shown.public else ""
    print(
        f"broadcast {broadcast_id}: {queued} message(s){public} queued; the running `plaza serve` sends them, "
        f"replies to residents first. Watch: plaza broadcast status {broadcast_id} --follow",
        file=out,
    )
    print(progress_bar(started), file=out)
    return EXIT_OK


def listing(config: Config, out: TextIO = sys.stdout) -> int:
    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            settle_broadcasts(connection)
            rows = list_broadcasts(connection)
    finally:
        database.dispose()
    if not rows:
        print("no broadcasts yet — plaza broadcast send --topic TOPIC --es TEXT --en TEXT", file=out)
        return EXIT_OK
    print(f"{'id':>5}  {'status':<10} {'topic':<12} {'recipients':>10}  {'created (UTC)':<16}  author", file=out)
    for row in rows:
        print(
            f"{row.broadcast_id:>5}  {row.status:<10} {row.topic:<12} {row.total:>10}  "
            f"{row.created_at:%Y-%m-%d %H:%M}  {row.author}",
            file=out,
        )
    return EXIT_OK


def status(
    config: Config,
    broadcast_id: int,
    *,
    follow: bool = False,
    interval: float = 1.0,
    out: TextIO = sys.stdout,
) -> int:
    """One progress line; with ``follow``, a line per ``interval`` until the broadcast is done or cancelled."""
    database = Database(config.database_url)
    live = follow and out.isatty()
    try:
        database.check_schema()
        while True:
            with database.writer.begin() as connection:
                settle_broadcasts(connection)
                shown = progress(connection, broadcast_id)
            line = progress_bar(shown)
            print(f"\r{line}\033[K" if live else line, end="" if live else "\n", file=out, flush=True)
            if not follow or shown.finished:
                break
            time.sleep(interval)
        if live:
            print(file=out)
        with database.reader.connect() as connection:
            failures = undelivered(connection, broadcast_id, limit=SHOWN_FAILURES)
    except UnknownBroadcast as error:
        print(f"plaza broadcast status: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    if failures:
        more = " (first ones)" if shown.failed > len(failures) else ""
        print(f"undeliverable{more}:", file=out)
        for failure in failures:
            print(f"  {failure.channel} {failure.chat_id}: {failure.reason}", file=out)
    return EXIT_OK


def cancel(config: Config, broadcast_id: int, out: TextIO = sys.stdout) -> int:
    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.writer.begin() as connection:
            settle_broadcasts(connection)
            before = progress(connection, broadcast_id).status
            cancelled = cancel_broadcast(connection, broadcast_id)
    except UnknownBroadcast as error:
        print(f"plaza broadcast cancel: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    if before in ("done", "cancelled"):
        print(f"broadcast {broadcast_id} is already {before}; nothing to cancel", file=out)
        return EXIT_PROBLEMS
    print(f"broadcast {broadcast_id} cancelled: {cancelled} pending message(s) will not be sent", file=out)
    return EXIT_OK


def resume(config: Config, broadcast_id: int, out: TextIO = sys.stdout) -> int:
    """Finish queueing a broadcast whose ``send`` was interrupted (nobody gets it twice)."""
    database = Database(config.database_url)
    try:
        database.check_schema()
        with database.reader.connect() as connection:
            before = progress(connection, broadcast_id).status
        if before != "sending":
            print(f"broadcast {broadcast_id} is {before}; only a broadcast being sent can be resumed", file=sys.stderr)
            return EXIT_PROBLEMS
        queued = start_broadcast(database.writer, broadcast_id)
        with database.reader.connect() as connection:
            shown = progress(connection, broadcast_id)
    except UnknownBroadcast as error:
        print(f"plaza broadcast resume: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        database.dispose()
    print(f"broadcast {broadcast_id}: {queued} more message(s) queued", file=out)
    print(progress_bar(shown), file=out)
    return EXIT_OK
