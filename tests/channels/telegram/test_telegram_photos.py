"""Photos between residents on Telegram and officials, over real HTTP (fake Bot API, Plaza's app, the inbox).

Proves: a resident's Telegram photo is shown to an official of the
conversation's department (the bytes the Bot API served, fetched with
getFile and archived, so they are still there once Telegram forgot the file)
and is 404 to another department; a status change with a photo reaches the
reporter as a real sendPhoto of the uploaded bytes with the notice as its
caption, while a file that is not an image is refused with a reason and
changes nothing; a resident's photo is relayed to the official's Telegram as
a photo, and an official's photo reply from there reaches the resident as a
photo; a photo of another platform is stored before it is
sent to a chat that cannot read that platform's reference (the web chat).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
from sqlalchemy import insert, select

from adapters.testing.telegram_server import FakeTelegram, User
from bot.config import Config
from bot.messages import Photo
from bot.officials import add_official
from bot.outbox import Reply, enqueue
from bot.relay_links import link_account
from models import Conversation, MediaItem, OutboxItem, ServiceRequest
from tests.channels.telegram.conftest import MENU, Town, wait_text
from tests.inbox.conftest import PASSWORD, csrf_of, post_login
from tests.support.server import wait_for

CONVERSATIONS = Conversation.__table__
REQUESTS = ServiceRequest.__table__
MEDIA = MediaItem.__table__
OUTBOX = OutboxItem.__table__
SESSION = "session-0123456789abcdef"


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of the given size (its bytes differ from every other size's)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def official(town: Town, config: Config, username: str, department: str, telegram_id: int | None = None) -> None:
    with town.database.writer.begin() as connection:
        add_official(
            connection,
            config,
            username=username,
            name=f"{username.title()} Ruiz",
            department=department,
            role="official",
            password=PASSWORD,
            language="es",
        )
        if telegram_id is not None:
            link_account(connection, username, "telegram", str(telegram_id))


@contextmanager
def login(town: Town, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=town.base_url, timeout=15.0, follow_redirects=False) as http:
        response = post_login(http, username, PASSWORD)
        assert response.status_code == 303, response.text
        yield http


def hand_off_to_police(fake: FakeTelegram, resident: User) -> None:
    fake.push_text(resident, "hola")
    wait_text(fake, resident.id, MENU)
    for text, answer in (
        ("persona", "¿Con quién quiere hablar?"),
        ("con un departamento", "¿Con qué departamento?"),
        ("policía", "escriba en pocas palabras"),
        ("Me han robado la bicicleta", "Hecho, se lo pasamos a Policía Local"),
    ):
        seen = len(fake.sent_to(resident.id))
        fake.push_text(resident, text)
        wait_text(fake, resident.id, answer, after=seen)


def conversation_of(town: Town, chat_id: int) -> int:
    with town.database.reader.connect() as connection:
        return int(
            connection.execute(
                select(CONVERSATIONS.c.id).where(
                    CONVERSATIONS.c.channel == "telegram", CONVERSATIONS.c.chat_id == str(chat_id)
                )
            ).scalar_one()
        )


def report(town: Town, chat_id: int, ticket: str, department: str = "servicios", photo_ref: str | None = None) -> int:
    """A streetlight report of the resident's Telegram conversation (as the incident flow stores it)."""
    with town.database.writer.begin() as connection:
        conversation = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.resident_id).where(
                CONVERSATIONS.c.channel == "telegram", CONVERSATIONS.c.chat_id == str(chat_id)
            )
        ).one()
        return int(
            connection.execute(
                insert(REQUESTS)
                .values(
                    ticket=ticket,
                    kind="incident",
                    category="streetlight",
                    department=department,
                    description="Farola apagada",
                    photo_ref=photo_ref,
                    status="received",
                    private=False,
                    language="es",
                    channel="telegram",
                    resident_id=conversation.resident_id,
                    conversation_id=conversation.id,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
                .returning(REQUESTS.c.id)
            ).scalar_one()
        )


def test_an_official_sees_a_residents_telegram_photo_and_another_department_does_not(
    town: Town, config: Config
) -> None:
    fake = town.fake
    ana = fake.user(101, "Ana")
    hand_off_to_police(fake, ana)
    photo = png(3, 2)
    fake.push_photo(ana, photo, caption="Así estaba el candado")
    [stored] = wait_for(lambda: [row for row in town.inbox(ana.id) if row.payload["photos"]], 10.0)
    town.settled(ana.id)
    file_id = stored.payload["photos"][0]["ref"]
    assert fake.file_data(file_id) == photo
    official(town, config, "pilar", "policia")
    official(town, config, "marta", "servicios")
    number = conversation_of(town, ana.id)
    request_id = report(town, ana.id, "JUN-2026-000041", department="policia", photo_ref=file_id)

    with login(town, "pilar") as pilar:
        page = pilar.get(f"/inbox/conversations/{number}")
        assert page.status_code == 200
        [url] = re.findall(rf'<img src="(/inbox/conversations/{number}/photos/\d+/0)"', page.text)
        shown = pilar.get(url)
        assert shown.status_code == 200
        assert shown.content == photo
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["x-content-type-options"] == "nosniff"
        assert "public" not in shown.headers["cache-control"]
        with town.database.reader.connect() as connection:
            archived = connection.execute(
                select(MEDIA.c.channel, MEDIA.c.chat_id, MEDIA.c.data).where(MEDIA.c.source_ref == file_id)
            ).all()
        assert [(row.channel, row.chat_id, bytes(row.data)) for row in archived] == [("telegram", "101", photo)]
        fake.forget_file(file_id)  # Telegram keeps files only for a while: the archived copy is the evidence
        again = pilar.get(url)
        assert (again.status_code, again.content) == (200, photo)
        assert pilar.get(url.removesuffix("/0") + "/7").status_code == 404  # the message has one photo
        request_page = pilar.get(f"/inbox/requests/{request_id}")
        assert f'<img src="/inbox/requests/{request_id}/photo"' in request_page.text
        assert file_id not in request_page.text  # the platform's reference is not shown, the photo is
        reported = pilar.get(f"/inbox/requests/{request_id}/photo")
        assert (reported.status_code, reported.content) == (200, photo)

    with login(town, "marta") as marta:
        refused = marta.get(url)
        assert refused.status_code == 404
        assert photo not in refused.content and "Traceback" not in refused.text
        assert marta.get(f"/inbox/conversations/{number}").status_code == 404
        assert marta.get(f"/inbox/requests/{request_id}/photo").status_code == 404
    anonymous = httpx.get(f"{town.base_url}{url}", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/inbox/login"


def test_a_status_change_with_a_photo_reaches_the_reporter_as_a_photo(town: Town, config: Config) -> None:
    fake = town.fake
    ana = fake.user(102, "Ana")
    fake.push_text(ana, "hola")
    wait_text(fake, ana.id, MENU)
    request_id = report(town, ana.id, "JUN-2026-000042")
    official(town, config, "marta", "servicios")
    official(town, config, "pilar", "policia")
    after = png(4, 4)

    with login(town, "marta") as marta:
        page = marta.get(f"/inbox/requests/{request_id}")
        assert 'enctype="multipart/form-data"' in page.text and 'name="photo"' in page.text
        csrf = csrf_of(page)
        fields = {"csrf": csrf, "status": "fixed", "note": "Cambiada la bombilla"}

        not_image = marta.post(
            f"/inbox/requests/{request_id}/status",
            data=fields,
            files={"photo": ("farola.png", b"<html><script>alert(1)</script></html>", "image/png")},
        )
        assert not_image.status_code == 400
        assert "not a photo" in not_image.text and "JPEG, PNG, GIF or WebP" in not_image.text
        too_large = marta.post(
            f"/inbox/requests/{request_id}/status",
            data=fields,
            files={"photo": ("farola.png", after + bytes(11 * 1024 * 1024), "image/png")},
        )
        assert too_large.status_code == 413 and "10 MB" in too_large.text
        no_csrf = marta.post(
            f"/inbox/requests/{request_id}/status",
            data={**fields, "csrf": "wrong"},
            files={"photo": ("farola.png", after, "image/png")},
        )
        assert no_csrf.status_code == 403
        with town.database.reader.connect() as connection:
            status = connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == request_id)).scalar_one()
            assert status == "received"
            assert connection.execute(select(MEDIA.c.id)).all() == []

        done = marta.post(
            f"/inbox/requests/{request_id}/status",
            data=fields,
            files={"photo": ("despues.png", after, "image/png")},
        )
        assert (done.status_code, done.headers["location"]) == (303, f"/inbox/requests/{request_id}?done=status")

    sent = wait_text(fake, ana.id, "JUN-2026-000042")
    assert sent.method == "sendPhoto"
    assert sent.caption is not None and "Cambiada la bombilla" in sent.caption and "arreglado" in sent.caption
    assert sent.photo is not None and fake.file_data(sent.photo) == after
    town.settled(ana.id)

    with login(town, "pilar") as pilar:  # another department: the request does not exist for them
        assert pilar.get(f"/inbox/requests/{request_id}").status_code == 404
        assert pilar.get(f"/inbox/requests/{request_id}/photo").status_code == 404


def test_an_officials_photo_reply_from_telegram_reaches_the_resident(town: Town, config: Config) -> None:
    fake = town.fake
    ana = fake.user(103, "Ana")
    pilar = fake.user(203, "Pilar")
    official(town, config, "pilar", "policia", telegram_id=pilar.id)
    hand_off_to_police(fake, ana)
    notice = wait_text(fake, pilar.id, "Me han robado la bicicleta")
    seen = len(fake.sent_to(pilar.id))
    fake.push_photo(ana, png(2, 2), caption="Así era")  # the resident's photo reaches the official as a photo
    relayed = wait_text(fake, pilar.id, "Así era", after=seen)
    assert relayed.method == "sendPhoto" and relayed.photo is not None and fake.file_data(relayed.photo) == png(2, 2)
    seen = len(fake.sent_to(ana.id))
    found = png(5, 3)
    fake.push_photo(pilar, found, caption="¿Es esta su bicicleta?", reply_to=notice)
    photo = wait_text(fake, ana.id, "¿Es esta su bicicleta?", after=seen)
    assert photo.method == "sendPhoto"
    assert photo.caption == "Pilar Ruiz: ¿Es esta su bicicleta?"
    assert photo.photo is not None and fake.file_data(photo.photo) == found
    town.settled(ana.id)
    number = conversation_of(town, ana.id)
    with login(town, "pilar") as http:  # the inbox shows the photo she sent with the conversation
        page = http.get(f"/inbox/conversations/{number}")
        urls = re.findall(rf'<img src="(/inbox/conversations/{number}/sent/\d+/photo)"', page.text)
        assert [http.get(url).content for url in urls] == [found]

    seen = len(fake.sent_to(ana.id))
    fake.push_photo(pilar, png(6, 3), reply_to=notice)  # a photo without words still goes
    alone = wait_text(fake, ana.id, "Pilar Ruiz le envía una foto.", after=seen)
    assert alone.method == "sendPhoto" and alone.photo is not None and fake.file_data(alone.photo) == png(6, 3)


def test_a_photo_of_another_platform_is_stored_before_it_goes_to_the_web_chat(town: Town) -> None:
    fake = town.fake
    pilar = fake.user(204, "Pilar")
    taken = png(7, 2)
    fake.push_photo(pilar, taken)
    wait_for(lambda: bool([row for row in town.inbox(pilar.id) if row.payload["photos"]]), 10.0)
    [stored] = [row for row in town.inbox(pilar.id) if row.payload["photos"]]
    file_id = stored.payload["photos"][0]["ref"]
    with town.database.writer.begin() as connection:
        enqueue(
            connection,
            channel="web",
            chat_id=SESSION,
            replies=[Reply(text="Así quedó", photo=Photo(file_id, "image/jpeg", origin="telegram"))],
        )

    def sent() -> object:
        with town.database.reader.connect() as connection:
            row = connection.execute(select(OUTBOX.c.status, OUTBOX.c.payload).where(OUTBOX.c.channel == "web")).one()
        return row if row.status == "sent" else None

    row = wait_for(sent, 10.0)
    ref = row.payload["photo"]["ref"]
    assert ref.startswith("media:") and "origin" not in row.payload["photo"]
    with town.database.reader.connect() as connection:
        media = connection.execute(
            select(MEDIA.c.channel, MEDIA.c.chat_id, MEDIA.c.mime_type, MEDIA.c.data).where(
                MEDIA.c.id == int(ref.removeprefix("media:"))
            )
        ).one()
    assert (media.channel, media.chat_id, media.mime_type, bytes(media.data)) == (
        "web",
        SESSION,
        "image/png",
        taken,
    )
    shown = httpx.get(f"{town.base_url}/chat/api/{SESSION}/media/{ref.removeprefix('media:')}")
    assert (shown.status_code, shown.content) == (200, taken)
