"""The public page at / in Spanish and English, its Atom feed, and the photos: small, no script, valid Atom."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.config import Config
from bot.errors import ConfigError
from bot.web.public import PublicWording, preferred_language
from models.db import Database
from tests.support.plazaweb import seed_request, seed_update
from tests.support.seed_month import seed_month

ATOM = "{http://www.w3.org/2005/Atom}"


def test_spanish_by_default_english_by_accept_language_and_lang_wins(client: httpx.Client) -> None:
    spanish = client.get("/")
    assert spanish.status_code == 200 and spanish.headers["content-type"].startswith("text/html")
    assert '<html lang="es">' in spanish.text and "<title>Incidencias de Jun</title>" in spanish.text
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8,es;q=0.5"})
    assert '<html lang="en">' in english.text and "<title>Jun&#39;s incident reports</title>" in english.text
    forced = client.get("/?lang=es", headers={"Accept-Language": "en"})
    assert '<html lang="es">' in forced.text
    assert 'href="?lang=en"' in forced.text and 'href="?lang=es"' in english.text
    assert "Todavía no hay avisos públicos." in spanish.text


def test_the_page_is_small_has_no_script_and_links_the_chat(client: httpx.Client, database: Database) -> None:
    seed_month(database, datetime.now(UTC))
    page = client.get("/").text
    assert "<script" not in page.lower()
    assert 'href="/chat"' in page
    assert '<link rel="alternate" type="application/atom+xml"' in page
    images = re.findall(r"<img [^>]+>", page)
    assert len(images) == 2  # the two reports with a stored photo
    for image in images:
        assert 'loading="lazy"' in image and 'width="64"' in image and 'src="/photos/JUN-' in image
        src = re.search(r'src="([^"]+)"', image)
        assert src is not None
        photo = client.get(src.group(1))
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert len(page.encode()) < 20_000


def test_the_feed_is_valid_atom(client: httpx.Client, database: Database) -> None:
    tickets = seed_month(database, datetime.now(UTC))
    response = client.get("/feed.atom?lang=en")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{name}") is not None, name
    assert (feed.findtext(f"{ATOM}id") or "").startswith("urn:uuid:")
    assert feed.findtext(f"{ATOM}title") == "Jun: incident report updates"
    self_link = [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_link and self_link[0].get("href", "").endswith("/feed.atom?lang=en")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 12
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(set(ids)) == len(ids) and all((i or "").startswith("urn:uuid:") for i in ids)
    stamps = [datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "") for entry in entries]
    assert all(stamp.tzinfo is not None for stamp in stamps)
    assert stamps == sorted(stamps, reverse=True)
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")
    first = entries[0]
    assert first.findtext(f"{ATOM}title") == f"{tickets['bulb']} · Street lighting: Fixed"
    assert first.findtext(f"{ATOM}summary") == "bulb: fixed"
    spanish = ET.fromstring(client.get("/feed.atom").content)
    assert spanish.findtext(f"{ATOM}entry/{ATOM}title") == f"{tickets['bulb']} · Alumbrado público: Arreglado"
    assert spanish.findtext(f"{ATOM}id") != feed.findtext(f"{ATOM}id")


def test_an_empty_feed_is_still_valid(client: httpx.Client) -> None:
    feed = ET.fromstring(client.get("/feed.atom").content)
    assert feed.findall(f"{ATOM}entry") == []
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated") or "")


def test_text_is_escaped(client: httpx.Client, database: Database) -> None:
    request_id, _ = seed_request(database, created_at=datetime.now(UTC))
    seed_update(database, request_id, "received", "fixed", datetime.now(UTC), note="<b>&ya</b>")
    feed = client.get("/feed.atom").text
    assert "<b>" not in feed and "&lt;b&gt;&amp;ya&lt;/b&gt;" in feed
    ET.fromstring(feed.encode())


def test_an_unknown_photo_is_404(client: httpx.Client) -> None:
    assert client.get("/photos/JUN-2026-000001").status_code == 404


def test_preferred_language(config: Config) -> None:
    assert preferred_language(config, None, None) == "es"
    assert preferred_language(config, "en", "es") == "en"
    assert preferred_language(config, "fr", "fr-FR,en;q=0.3,es;q=0.2") == "en"
    assert preferred_language(config, None, "es;q=0.1, en;q=0.9") == "en"
    assert preferred_language(config, None, "en;q=0, de") == "es"


def test_every_text_of_the_page_is_in_every_language(config: Config, tmp_path: Path) -> None:
    wording = PublicWording.load(config)
    for language in config.languages:
        assert wording.text("page", "window", language, days=30)
    broken = tmp_path / "flows"
    (broken / "pages").mkdir(parents=True)
    source = (config.flows_dir / "pages" / "public.yaml").read_text(encoding="utf-8")
    (broken / "pages" / "public.yaml").write_text(
        source.replace('fixed: {es: "Arreglados", en: "Fixed"}', 'fixed: {es: "Arreglados"}'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"page\.fixed: no text in en"):
        PublicWording.load(replace(config, flows_dir=broken))
