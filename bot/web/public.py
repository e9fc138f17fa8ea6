"""The public transparency page at ``/``, its Atom feed, its JSON, and the photos of public reports.

- ``GET /``: the page (Spanish or English: ``?lang=`` wins over
  ``Accept-Language``): counts and median times per department over the
  last 30 and 365 days, the latest reports with photo, status and time to
  fix, and a link to the web chat. Plain HTML with inline CSS, no script;
  photos are lazy thumbnails.
- ``GET /feed.atom``: the latest status changes of public reports (Atom 1.0).
- ``GET /transparency.json``: the same figures as the page (durations in seconds).
- ``GET /photos/{service_request_id}``: the stored photo of a public report (404 otherwise).

Only :mod:`bot.transparency` and :mod:`bot.open311` decide what is public;
this module only renders. The wording is ``flows/pages/public.yaml``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Config
from bot.errors import ConfigError
from bot.flows import MESSAGES_FILE, load_messages
from bot.open311 import load_photo, open311_status, w3c
from bot.request_status import STATUSES, humanized
from bot.runtime import Plaza
from bot.templates import pick, render
from bot.transparency import DepartmentFigures, Figures, StatusChange, figures, status_changes
from bot.web.errors import error_response
from bot.yamlfile import YamlProblem, read_yaml

__all__ = ["PublicPages", "PublicWording", "preferred_language", "public_routes"]

TEMPLATES = Path(__file__).parent / "templates"
WORDING_FILE = Path("pages") / "public.yaml"
_SECTIONS = {
    "page": (
        "title",
        "intro",
        "chat_link",
        "language_name",
        "window",
        "department",
        "received",
        "open",
        "fixed",
        "first_answer",
        "time_to_fix",
        "total",
        "none",
        "latest",
        "no_reports",
        "fixed_in",
        "photo",
        "photo_link",
        "feed",
        "data",
        "open311",
        "updated",
    ),
    "feed": ("title", "entry"),
    "status": STATUSES,
}


@dataclass(frozen=True, slots=True)
class PublicWording:
    """``flows/pages/public.yaml``: section -> key -> language -> text, checked complete at load."""

    texts: Mapping[str, Mapping[str, Mapping[str, str]]]
    fallback: str

    @classmethod
    def load(cls, config: Config) -> PublicWording:
        path = config.flows_dir / WORDING_FILE
        try:
            tree = read_yaml(path)
        except (OSError, YamlProblem) as error:
            raise ConfigError(str(path), None, "public page", str(error), "restore flows/pages/public.yaml") from None
        texts: dict[str, dict[str, dict[str, str]]] = {}
        for section, keys in _SECTIONS.items():
            node = tree.get(section) if isinstance(tree, Mapping) else None
            if not isinstance(node, Mapping):
                raise ConfigError(str(path), None, section, "missing section", f"add `{section}:` with its texts")
            texts[section] = {}
            for key in keys:
                value = node.get(key)
                missing = [lang for lang in config.languages if not isinstance(value, Mapping) or not value.get(lang)]
                if missing or not isinstance(value, Mapping):
                    problem = f"no text in {', '.join(missing)}"
                    raise ConfigError(str(path), None, f"{section}.{key}", problem, "write it in every language")
                texts[section][key] = {str(lang): str(text) for lang, text in value.items()}
        return cls(texts, config.default_language)

    def text(self, section: str, key: str, language: str, **values: object) -> str:
        return render(pick(self.texts[section][key], language, self.fallback), values)


def preferred_language(config: Config, query: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it is one of the town's, else the best of ``Accept-Language``, else the default."""
    if query and query.lower() in config.languages:
        return query.lower()
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        pieces = part.strip().split(";")
        quality = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = pieces[0].strip().split("-")[0].lower()
        if code in config.languages and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else config.default_language


class PublicPages:
    def __init__(self, plaza: Plaza) -> None:
        self.plaza = plaza
        self.config = plaza.config
        self.wording = PublicWording.load(plaza.config)
        self.messages = load_messages(plaza.config.flows_dir / MESSAGES_FILE, plaza.config.languages)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(enabled_extensions=("html", "atom", "xml"), default_for_string=True),
            trim_blocks=False,
        )

    def _language(self, request: Request) -> str:
        return preferred_language(self.config, request.query_params.get("lang"), request.headers.get("accept-language"))

    def _name(self, table: Mapping[str, Any], key: str, language: str) -> str:
        found = table.get(key)
        if found is None:
            return key
        labels = getattr(found, "label", None) or getattr(found, "name", None) or {}
        return pick(labels, language, self.config.default_language) or key

    def _took(self, elapsed: timedelta | None, language: str) -> str:
        if elapsed is None:
            return self.wording.text("page", "none", language)
        return humanized(elapsed, language, self.messages, self.config.default_language)

    async def _figures(self) -> Figures:
        def load() -> Figures:
            with self.plaza.database.reader.connect() as connection:
                return figures(connection, self.config, now=datetime.now(UTC))

        return await anyio.to_thread.run_sync(load)

    def _row(self, item: DepartmentFigures, language: str) -> dict[str, Any]:
        name = (
            self.wording.text("page", "total", language)
            if item.department is None
            else self._name(self.config.departments, item.department, language)
        )
        return {
            "name": name,
            "received": item.received,
            "open": item.open,
            "fixed": item.fixed,
            "first_answer": self._took(item.median_first_answer, language),
            "fix": self._took(item.median_fix, language),
        }

    async def page(self, request: Request) -> Response:
        language = self._language(request)
        data = await self._figures()
        zone = ZoneInfo(self.config.timezone)
        latest = []
        for report in data.latest:
            photo = report.photo
            latest.append(
                {
                    "ticket": report.ticket,
                    "category": self._name(self.config.categories, report.category, language),
                    "department": self._name(self.config.departments, report.department, language),
                    "status": self.wording.text("status", report.status, language)
                    if report.status in STATUSES
                    else report.status,
                    "status_key": report.status,
                    "date": report.created_at.astimezone(zone).strftime("%d/%m/%Y"),
                    "fixed_in": None
                    if report.time_to_fix is None
                    else self.wording.text("page", "fixed_in", language, took=self._took(report.time_to_fix, language)),
                    "thumb": f"/photos/{report.ticket}" if photo and photo.startswith("media:") else None,
                    "link": photo if photo and not photo.startswith("media:") else None,
                }
            )
        windows = [
            {
                "days": window.days,
                "rows": [self._row(item, language) for item in window.departments],
                "total": self._row(window.total, language),
            }
            for window in data.windows
        ]
        html = self.templates.get_template("public.html").render(
            lang=language,
            other_languages=[
                (code, self.wording.text("page", "language_name", code))
                for code in self.config.languages
                if code != language
            ],
            town=self.config.town_name,
            t=lambda key, **values: self.wording.text("page", key, language, **values),
            windows=windows,
            latest=latest,
            updated=data.generated_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        )
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Language", "Content-Language": language},
        )

    async def data(self, request: Request) -> Response:
        language = self._language(request)
        data = await self._figures()

        def seconds(value: timedelta | None) -> int | None:
            return None if value is None else round(value.total_seconds())

        def row(item: DepartmentFigures) -> dict[str, Any]:
            return {
                "department": item.department,
                "name": None
                if item.department is None
                else self._name(self.config.departments, item.department, language),
                "received": item.received,
                "open": item.open,
                "fixed": item.fixed,
                "median_first_answer_seconds": seconds(item.median_first_answer),
                "median_fix_seconds": seconds(item.median_fix),
            }

        base = str(request.base_url)
        body = {
            "town": self.config.town_name,
            "language": language,
            "generated_at": w3c(data.generated_at, self.config),
            "windows": [
                {"days": w.days, "departments": [row(item) for item in w.departments], "total": row(w.total)}
                for w in data.windows
            ],
            "latest": [
                {
                    "service_request_id": report.ticket,
                    "service_code": report.category,
                    "service_name": self._name(self.config.categories, report.category, language),
                    "agency_responsible": self._name(self.config.departments, report.department, language),
                    "status": open311_status(report.status),
                    "detailed_status": report.status,
                    "requested_datetime": w3c(report.created_at, self.config),
                    "time_to_fix_seconds": seconds(report.time_to_fix),
                    "media_url": None
                    if report.photo is None
                    else (f"{base}photos/{report.ticket}" if report.photo.startswith("media:") else report.photo),
                }
                for report in data.latest
            ],
        }
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Language"})

    async def feed(self, request: Request) -> Response:
        language = self._language(request)

        def load() -> list[StatusChange]:
            with self.plaza.database.reader.connect() as connection:
                return status_changes(connection, self.config)

        changes = await anyio.to_thread.run_sync(load)
        base = str(request.base_url)
        entries = [
            {
                "id": change.key(self.config),
                "title": self.wording.text(
                    "feed",
                    "entry",
                    language,
                    ticket=change.ticket,
                    category=self._name(self.config.categories, change.category, language),
                    status=self.wording.text("status", change.status, language)
                    if change.status in STATUSES
                    else change.status,
                ),
                "updated": _rfc3339(change.at),
                "link": f"{base}?lang={language}#{change.ticket}",
                "note": change.note,
            }
            for change in changes
        ]
        feed_id = uuid.uuid5(uuid.NAMESPACE_URL, f"plaza:{self.config.ticket_prefix}:feed:{language}").urn
        text = self.templates.get_template("feed.atom").render(
            lang=language,
            feed_id=feed_id,
            title=self.wording.text("feed", "title", language, town=self.config.town_name),
            updated=entries[0]["updated"] if entries else _rfc3339(datetime.now(UTC)),
            town=self.config.town_name,
            self_url=f"{base}feed.atom?lang={language}",
            page_url=f"{base}?lang={language}",
            entries=entries,
        )
        return Response(
            text,
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Language"},
        )

    async def photo(self, request: Request) -> Response:
        ticket = request.path_params["service_request_id"]

        def load() -> tuple[str, bytes] | None:
            with self.plaza.database.reader.connect() as connection:
                return load_photo(connection, self.config, ticket)

        found = await anyio.to_thread.run_sync(load)
        if found is None:
            return error_response(404, "no public photo for that report")
        mime, data = found
        return Response(
            data,
            media_type=mime,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def public_routes(plaza: Plaza) -> list[Route]:
    pages = PublicPages(plaza)
    return [
        Route("/", pages.page, methods=["GET"]),
        Route("/feed.atom", pages.feed, methods=["GET"]),
        Route("/transparency.json", pages.data, methods=["GET"]),
        Route("/photos/{service_request_id}", pages.photo, methods=["GET"]),
    ]
