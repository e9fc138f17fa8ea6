"""``plaza broadcast send|list|status|cancel|resume`` as a subprocess, with ``plaza serve`` doing the sending."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from models.db import Database
from tests.support.server import ROOT, PlazaProcess, run_plaza
from tests.support.subscribers import add_subscribers, outbox_rows

ES = "Corte de agua el martes de 9:00 a 12:00 en la calle Real."
EN = "Water cut on Tuesday from 9:00 to 12:00 in Calle Real."
ID = re.compile(r"broadcast (\d+)")


@pytest.fixture
def town(tmp_path: Path) -> Path:
    """A copy of the shipped town, migrated, with 3 web subscribers to `outages` and 1 to `jobs`."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config = tmp_path / "config.yaml"
    assert run_plaza(config, "db", "upgrade").returncode == 0
    with stored(config) as database:
        add_subscribers(database.writer, 3, topic="outages", languages=("es", "en"))
        add_subscribers(database.writer, 1, topic="jobs", prefix="jobs")
    return config


@contextmanager
def stored(config: Path) -> Iterator[Database]:
    """The town's SQLite database, opened beside the subprocesses."""
    database = Database(f"sqlite:///{config.parent / 'var' / 'plaza.sqlite3'}")
    try:
        yield database
    finally:
        database.dispose()


def statuses(config: Path, broadcast_id: int) -> Counter[str]:
    with stored(config) as database:
        return Counter(str(row["status"]) for row in outbox_rows(database.writer, broadcast_id))


def test_a_missing_language_or_an_unknown_topic_is_a_usage_error(town: Path) -> None:
    missing = run_plaza(town, "broadcast", "send", "--topic", "outages", "--es", ES, "--yes")
    assert missing.returncode == 2
    assert "no text in en" in missing.stderr and "--en TEXT" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = run_plaza(town, "broadcast", "send", "--topic", "weather", "--es", ES, "--en", EN, "--yes")
    assert unknown.returncode == 2
    assert "unknown topic `weather`" in unknown.stderr and "outages" in unknown.stderr
    nobody = run_plaza(town, "broadcast", "list")
    assert nobody.returncode == 0 and "no broadcasts yet" in nobody.stdout


def test_the_preview_is_shown_and_answering_no_sends_nothing(town: Path) -> None:
    result = run_plaza(town, "broadcast", "send", "--topic", "outages", "--es", ES, "--en", EN, input="n\n")
    assert result.returncode == 0, result.stderr
    assert ES in result.stdout and EN in result.stdout  # what each language's subscribers read
    assert "Cortes y avisos" in result.stdout and "Outages" in result.stdout
    assert "Recipients: web: 3 (total 3)" in result.stdout
    assert "Send it to 3 recipient(s)? [y/N]" in result.stdout
    assert "not sent" in result.stdout
    broadcast_id = int(ID.search(result.stdout).group(1))  # type: ignore[union-attr]
    assert statuses(town, broadcast_id) == Counter()
    listed = run_plaza(town, "broadcast", "list")
    assert re.search(rf"\b{broadcast_id}\s+cancelled\s+outages", listed.stdout), listed.stdout


def test_send_then_serve_delivers_and_status_follows_it_to_done(town: Path) -> None:
    sent = run_plaza(town, "broadcast", "send", "--topic", "outages", "--es", ES, "--en", EN, input="sí\n")
    assert sent.returncode == 0, sent.stderr
    broadcast_id = int(re.findall(r"broadcast (\d+): 3 message\(s\) queued", sent.stdout)[0])
    assert "0/3 sent" in sent.stdout
    assert statuses(town, broadcast_id) == Counter({"pending": 3})
    with PlazaProcess(town):
        followed = run_plaza(town, "broadcast", "status", str(broadcast_id), "--follow", "--interval", "0.2")
    assert followed.returncode == 0, followed.stderr
    last = followed.stdout.strip().splitlines()[-1]
    assert "[##############################] 100%" in last and "3/3 sent" in last and last.endswith("done")
    assert statuses(town, broadcast_id) == Counter({"sent": 3})
    listed = run_plaza(town, "broadcast", "list")
    assert re.search(rf"\b{broadcast_id}\s+done\s+outages\s+3\b", listed.stdout), listed.stdout
    again = run_plaza(town, "broadcast", "cancel", str(broadcast_id))
    assert again.returncode == 1 and "already done" in again.stdout


def test_cancel_and_resume(town: Path) -> None:
    sent = run_plaza(town, "broadcast", "send", "--topic", "outages", "--es", ES, "--en", EN, "--yes")
    broadcast_id = int(re.findall(r"broadcast (\d+): 3 message", sent.stdout)[0])
    resumed = run_plaza(town, "broadcast", "resume", str(broadcast_id))
    assert resumed.returncode == 0 and "0 more message(s) queued" in resumed.stdout  # nobody twice
    cancelled = run_plaza(town, "broadcast", "cancel", str(broadcast_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert "3 pending message(s) will not be sent" in cancelled.stdout
    assert statuses(town, broadcast_id) == Counter({"cancelled": 3})
    shown = run_plaza(town, "broadcast", "status", str(broadcast_id))
    assert shown.returncode == 0 and "3 cancelled" in shown.stdout and shown.stdout.strip().endswith("cancelled")
    unknown = run_plaza(town, "broadcast", "status", "999")
    assert unknown.returncode == 1 and "there is no broadcast 999" in unknown.stderr
    assert run_plaza(town, "broadcast", "cancel", "999").returncode == 1
