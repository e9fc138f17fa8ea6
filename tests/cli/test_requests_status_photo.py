"""``plaza requests status ... --photo FILE``: the photo is checked by its bytes, stored, and sent with the notice.

Proves: a file that is not an image is refused with the reason and exit 2
before anything is written; a PNG is stored as ``media:<id>`` of the
reporter's chat and rides on the message queued for them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.test_requests_status import REPORT_SCRIPT, TICKET, chat, pending, town
from tests.support.server import run_plaza, tiny_png

__all__ = ["town"]  # the fixture, shared with test_requests_status


def test_a_photo_goes_with_the_status_and_a_non_image_is_refused(town: Path, tmp_path: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    ticket = TICKET.findall(chat(town, REPORT_SCRIPT))[0]
    script = tmp_path / "farola.png"
    script.write_text("#!/bin/sh\necho not a photo\n")

    refused = run_plaza(town, "requests", "status", ticket, "fixed", "--photo", str(script))
    assert refused.returncode == 2
    assert "not a photo: send a JPEG, PNG, GIF or WebP image" in refused.stderr and "Traceback" not in refused.stderr
    assert pending(town) == []

    photo = tmp_path / "despues.png"
    photo.write_bytes(tiny_png())
    done = run_plaza(town, "requests", "status", ticket, "fixed", "--photo", str(photo))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(town.parent / "var" / "plaza.sqlite3") as connection:
        [(chat_id, payload)] = connection.execute("SELECT chat_id, payload FROM outbox WHERE status = 'pending'")
        sent = json.loads(payload)["photo"]
        number = int(sent["ref"].removeprefix("media:"))
        [(channel, owner, mime, data)] = connection.execute(
            "SELECT channel, chat_id, mime_type, data FROM media WHERE id = ?", (number,)
        )
    assert (chat_id, sent["mime_type"]) == ("vecina", "image/png")
    assert (owner, mime, bytes(data)) == ("vecina", "image/png", tiny_png())
    assert channel == "console"
