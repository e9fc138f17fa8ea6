"""HTML pages of the officials' inbox: jinja2 templates with autoescape, and their wording.

Every value a template prints is escaped (``autoescape`` is on for every
template), so a resident's ``<script>`` is shown as text. The words officials
read live in ``bot/web/wording.yaml`` (``key: {es: ..., en: ...}``); templates
call ``t("key", name=value)``, which picks the official's language and fills
``{placeholders}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.config import Config
from bot.templates import pick, render
from bot.yamlfile import read_yaml

__all__ = ["TEMPLATES", "WORDING", "Pages", "map_url"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
WORDING = HERE / "wording.yaml"
STATIC = HERE / "static"


def map_url(latitude: float, longitude: float) -> str:
    """An OpenStreetMap link that centres a marker on the point."""
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=18/{latitude:.6f}/{longitude:.6f}"
    )


def _load_wording(path: Path) -> dict[str, dict[str, str]]:
    data = read_yaml(path)
    return {str(key): {str(lang): str(text) for lang, text in value.items()} for key, value in data.items()}


class Pages:
    """Renders the inbox's templates for one town."""

    def __init__(self, config: Config, wording: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.config = config
        self.wording = wording if wording is not None else _load_wording(WORDING)
        self.zone = ZoneInfo(config.timezone)
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["map_url"] = lambda point: map_url(point[0], point[1])

    def language(self, request: Request, official_language: str | None = None) -> str:
        """The official's language, else the browser's, else the town's."""
        if official_language in self.config.languages:
            return str(official_language)
        return self.config.language_for(request.headers.get("accept-language"))

    def text(self, language: str, key: str, **values: object) -> str:
        texts = self.wording.get(key)
        if texts is None:
            return key
        return render(pick(texts, language, self.config.default_language), values)

    def local(self, moment: datetime | None) -> str:
        """A timestamp in the town's time zone, as officials read it."""
        return moment.astimezone(self.zone).strftime("%d/%m/%Y %H:%M") if moment else ""

    def duration(self, language: str, elapsed: timedelta) -> str:
        minutes = max(0, int(elapsed.total_seconds() // 60))
        if minutes < 60:
            return self.text(language, "minutes", n=minutes)
        if minutes < 48 * 60:
            return self.text(language, "hours", h=minutes // 60, m=minutes % 60)
        return self.text(language, "days", n=minutes // (24 * 60))

    def render(
        self, request: Request, template: str, language: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A full page, with headers that keep it out of caches and frames and allow only our own scripts."""
        return HTMLResponse(
            self.fragment(template, language, **context),
            status_code=status_code,
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin",
                "Content-Security-Policy": (
                    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
                    "frame-ancestors 'none'; form-action 'self'"
                ),
            },
        )

    def department_name(self, key: str | None, language: str) -> str:
        if key is None:
            return "—"
        department = self.config.departments.get(key)
        if department is None or not department.name:
            return key
        return pick(department.name, language, self.config.default_language) or key

    def fragment(self, template: str, language: str, **context: Any) -> str:
        """Render a template to a string (a whole page, or a part for live updates)."""

        def t(key: str, **values: object) -> str:
            return self.text(language, key, **values)

        return self.environment.get_template(template).render(
            t=t,
            language=language,
            town=self.config.town_name,
            local=self.local,
            duration=lambda elapsed: self.duration(language, elapsed),
            department_name=lambda key: self.department_name(key, language),
            departments=[(key, self.department_name(key, language)) for key in self.config.departments],
            **context,
        )
