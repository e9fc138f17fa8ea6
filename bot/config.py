"""config.yaml -> one frozen :class:`Config`; deployment settings from the environment.

Errors are :class:`~bot.errors.ConfigError` naming file, line, key, the
value found and what to write instead. Nothing here touches globals: call
:func:`load_config` and pass the result along.

Environment variables (they win over the file):

- ``PLAZA_CONFIG``: the config file (default ``./config.yaml``)
- ``PLAZA_DATABASE_URL``: the database URL
- ``PLAZA_HOST`` / ``PLAZA_PORT``: where ``plaza serve`` listens
- ``PLAZA_FLOWS_DIR``: the flows folder
- ``PLAZA_SECRET_KEY``: the server's secret for keyed hashes (ID numbers, verification
  codes); see :mod:`bot.secretkey` for what happens without it
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.comments import CommentedMap

from bot.directory import Person, read_office_hours, read_people
from bot.errors import ConfigError
from bot.services import Service, parse_services
from bot.yamlfile import YamlProblem, key_line, node_line, read_yaml

__all__ = [
    "Activity",
    "Category",
    "ChannelSettings",
    "Config",
    "Department",
    "HandoffSettings",
    "LimitSettings",
    "Person",
    "PrivacySettings",
    "Procedure",
    "Service",
    "Topic",
    "load_config",
]

KNOWN_CHANNELS = ("web", "console", "telegram", "mastodon", "x")


@dataclass(frozen=True, slots=True)
class Department:
    key: str
    name: Mapping[str, str]
    private: bool
    office_hours: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Category:
    """An incident category; ``private`` reports never appear in public."""

    key: str
    label: Mapping[str, str]
    department: str
    private: bool


@dataclass(frozen=True, slots=True)
class Topic:
    """A news-and-alerts topic a resident can subscribe to."""

    key: str
    label: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Activity:
    """A municipal activity residents can sign up for; ``places`` is how many (None: not limited)."""

    key: str
    label: Mapping[str, str]
    places: int | None = None


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure done in the chat (flow ``procedure_<key>``, or ``plenary_proposal``) and who receives it."""

    key: str
    label: Mapping[str, str]
    department: str


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: str
    enabled: bool
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HandoffSettings:
    """config.yaml's ``handoff:``: who takes conversations the bot failed, and when a wait is too long.

    ``person_flow`` is the flow the word "persona"/"person" starts anywhere
    (None: ``talk_to`` when the town has one; the word is then an ordinary answer otherwise);
    ``failures`` the department a conversation goes to when a step fails for
    good (None: nobody, the resident only gets an apology);
    ``alert_after_minutes`` when officials see a waiting conversation as late.
    """

    person_flow: str | None = None
    failures: str | None = None
    alert_after_minutes: int = 30


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """config.yaml's ``privacy:``: how long message bodies are kept, and where download links point.

    ``retention_days``: message bodies (what residents wrote, what was sent
    to them) older than this are purged; ``public_url``: the address residents
    reach this server at, for their data download links (None: ``http://host:port``).
    """

    retention_days: int = 365
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """config.yaml's ``limits:``: how fast one resident may write before the bot slows them down.

    A chat (one channel and chat id) gets at most ``messages_per_window``
    messages processed per ``window_seconds``; the rest wait, in order, for the
    next window (nothing is dropped), the resident is told once to slow down,
    and other residents' messages are served meanwhile.
    """

    messages_per_window: int = 20
    window_seconds: int = 60


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    town_name: str
    ticket_prefix: str
    timezone: str
    default_language: str
    languages: tuple[str, ...]
    database_url: str
    host: str
    port: int
    flows_dir: Path
    main_flow: str
    departments: Mapping[str, Department]
    categories: Mapping[str, Category]
    channels: Mapping[str, ChannelSettings]
    topics: Mapping[str, Topic] = field(default_factory=dict)
    activities: Mapping[str, Activity] = field(default_factory=dict)
    procedures: Mapping[str, Procedure] = field(default_factory=dict)
    services: Mapping[str, Service] = field(default_factory=dict)
    people: Mapping[str, Person] = field(default_factory=dict)
    handoff: HandoffSettings = field(default_factory=lambda: HandoffSettings())
    privacy: PrivacySettings = field(default_factory=lambda: PrivacySettings())
    limits: LimitSettings = field(default_factory=lambda: LimitSettings())
    secret_key: str | None = field(default=None, repr=False)

    def language_for(self, hint: str | None) -> str:
        """The configured language closest to a locale hint (``en-GB``, ``es_ES.UTF-8``)."""
        if hint:
            code = hint.replace("_", "-").split("-")[0].split(".")[0].lower()
            if code in self.languages:
                return code
        return self.default_language

    def enabled_channels(self) -> tuple[str, ...]:
        return tuple(name for name, channel in self.channels.items() if channel.enabled)


class _Reader:
    """Walks the parsed YAML, raising ConfigError with file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: object, key: str, problem: str, hint: str, line_key: object = None) -> ConfigError:
        line = key_line(node, line_key) if line_key is not None else node_line(node)
        return ConfigError(str(self.path), line, key, problem, hint)

    def section(self, parent: Any, name: str, dotted: str, required: bool = True) -> CommentedMap:
        value = parent.get(name) if isinstance(parent, Mapping) else None
        if value is None:
            if not required:
                return CommentedMap()
            raise self.fail(parent, dotted, "missing", f"add a `{name}:` section")
        if not isinstance(value, CommentedMap):
            raise self.fail(
                parent,
                dotted,
                f"expected a mapping, found {value!r}",
                f"write `{name}:` followed by indented `key: value` lines",
                name,
            )
        return value

    def known_keys(self, node: CommentedMap, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"allowed here: {', '.join(allowed)}"
                raise self.fail(node, f"{where}.{key}" if where else str(key), "unknown key", hint, key)

    def department(
        self, node: CommentedMap, where: str, departments: Mapping[str, Department], key: str = "department"
    ) -> str:
        """The ``department:`` (or ``key:``) of an entry, which must be a key of ``departments:``."""
        department = self.string(node, key, where)
        if department not in departments:
            close = difflib.get_close_matches(department, list(departments), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"use one of: {', '.join(departments)}"
            raise self.fail(node, f"{where}.{key}", f"unknown department {department!r}", hint, key)
        return department

    def string(self, node: CommentedMap, key: str, where: str, default: str | None = None) -> str:
        value = node.get(key, default)
        if value is None:
            raise self.fail(node, f"{where}.{key}", "missing", f"add `{key}: ...`")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                node,
                f"{where}.{key}",
                f"expected text, found {value!r}",
                f"write `{key}:` followed by a word, e.g. `{key}: Jun`",
                key,
            )
        return value.strip()

    def boolean(self, node: CommentedMap, key: str, where: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(
                node,
                f"{where}.{key}",
                f"expected true or false, found {value!r}",
                f"write `{key}: true` or `{key}: false`",
                key,
            )
        return value

    def translations(self, node: CommentedMap, key: str, where: str, languages: tuple[str, ...]) -> dict[str, str]:
        value = node.get(key)
        dotted = f"{where}.{key}"
        if not isinstance(value, CommentedMap):
            example = ", ".join(f"{lang}: ..." for lang in languages)
            raise self.fail(
                node,
                dotted,
                f"expected a text per language, found {value!r}",
                f"write `{key}: {{{example}}}`",
                key if key in node else None,
            )
        result: dict[str, str] = {}
        for language in languages:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                raise self.fail(
                    value,
                    f"{dotted}.{language}",
                    "missing translation",
                    f"add `{language}: ...` (every configured language needs a text)",
                )
            result[language] = text.strip()
        return result


def _activities(reader: _Reader, root: CommentedMap, languages: tuple[str, ...]) -> dict[str, Activity]:
    """``activities:``: ``key: {label: {es: ..., en: ...}, places: 30}`` (places optional)."""
    found: dict[str, Activity] = {}
    section = reader.section(root, "activities", "activities", required=False)
    for key, node in section.items():
        where = f"activities.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                section,
                where,
                f"expected a mapping, found {node!r}",
                "give the activity a `label: {es: ..., en: ...}`",
                key,
            )
        reader.known_keys(node, ("label", "places"), where)
        places = node.get("places")
        if places is not None and (isinstance(places, bool) or not isinstance(places, int) or places < 1):
            raise reader.fail(
                node,
                f"{where}.places",
                f"expected a whole number of places, found {places!r}",
                "write e.g. `places: 30`, or remove the line",
                "places",
            )
        found[str(key)] = Activity(
            key=str(key), label=reader.translations(node, "label", where, languages), places=places
        )
    return found


def _procedures(
    reader: _Reader, root: CommentedMap, languages: tuple[str, ...], departments: Mapping[str, Department]
) -> dict[str, Procedure]:
    """``procedures:``: ``key: {label: {es: ..., en: ...}, department: secretaria}``."""
    found: dict[str, Procedure] = {}
    section = reader.section(root, "procedures", "procedures", required=False)
    for key, node in section.items():
        where = f"procedures.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                section,
                where,
                f"expected a mapping, found {node!r}",
                "give the procedure a `label:` and a `department:`",
                key,
            )
        reader.known_keys(node, ("label", "department"), where)
        department = reader.department(node, where, departments)
        found[str(key)] = Procedure(
            key=str(key), label=reader.translations(node, "label", where, languages), department=department
        )
    return found


def _resolve_database_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str((base / rest).resolve())
    return url


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and check the config file; environment variables override it."""
    environ = os.environ if env is None else env
    config_path = Path(path or environ.get("PLAZA_CONFIG") or "config.yaml").resolve()
    reader = _Reader(config_path)
    if not config_path.is_file():
        raise ConfigError(
            str(config_path),
            None,
            "PLAZA_CONFIG",
            "file not found",
            "run from the folder that holds config.yaml or set PLAZA_CONFIG to its path",
        )
    try:
        root = read_yaml(config_path)
    except YamlProblem as problem:
        raise ConfigError(str(config_path), problem.line, "(file)", problem.problem, problem.hint) from None
    if not isinstance(root, CommentedMap):
        raise ConfigError(
            str(config_path),
            1,
            "(file)",
            "expected `key: value` sections",
            "start from the config.yaml shipped with Plaza",
        )
    reader.known_keys(
        root,
        (
            "town",
            "languages",
            "database",
            "server",
            "flows",
            "departments",
            "categories",
            "topics",
            "activities",
            "procedures",
            "services",
            "people",
            "channels",
            "handoff",
            "privacy",
            "limits",
        ),
        "",
    )

    town = reader.section(root, "town", "town")
    reader.known_keys(town, ("name", "ticket_prefix", "timezone"), "town")
    town_name = reader.string(town, "name", "town")
    ticket_prefix = reader.string(town, "ticket_prefix", "town", default=town_name[:3].upper())
    if not ticket_prefix.replace("-", "").isalnum():
        raise reader.fail(
            town,
            "town.ticket_prefix",
            f"{ticket_prefix!r} has characters a ticket cannot carry",
            "use letters and digits, e.g. `ticket_prefix: JUN`",
            "ticket_prefix",
        )
    timezone = reader.string(town, "timezone", "town", default="Europe/Madrid")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail(
            town, "town.timezone", f"unknown time zone {timezone!r}", "write e.g. `timezone: Europe/Madrid`", "timezone"
        ) from None

    langs = reader.section(root, "languages", "languages")
    reader.known_keys(langs, ("default", "available"), "languages")
    available_raw = langs.get("available")
    if (
        not isinstance(available_raw, list)
        or not available_raw
        or not all(isinstance(item, str) and item.isalpha() and len(item) == 2 for item in available_raw)
    ):
        raise reader.fail(
            langs,
            "languages.available",
            f"expected a list of two-letter codes, found {available_raw!r}",
            "write `available: [es, en]`",
            "available",
        )
    languages = tuple(str(item).lower() for item in available_raw)
    default_language = reader.string(langs, "default", "languages").lower()
    if default_language not in languages:
        raise reader.fail(
            langs,
            "languages.default",
            f"{default_language!r} is not in `available`",
            f"use one of {', '.join(languages)} or add it to `available`",
            "default",
        )

    database = reader.section(root, "database", "database", required=False)
    reader.known_keys(database, ("url",), "database")
    database_url = environ.get("PLAZA_DATABASE_URL") or reader.string(
        database, "url", "database", default="sqlite:///var/plaza.sqlite3"
    )
    database_url = _resolve_database_url(database_url, config_path.parent)

    server = reader.section(root, "server", "server", required=False)
    reader.known_keys(server, ("host", "port"), "server")
    host = environ.get("PLAZA_HOST") or reader.string(server, "host", "server", default="127.0.0.1")
    port_raw: object = environ.get("PLAZA_PORT") or server.get("port", 8000)
    try:
        port = int(str(port_raw))
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        where = "PLAZA_PORT" if environ.get("PLAZA_PORT") else "server.port"
        raise ConfigError(
            str(config_path),
            key_line(server, "port"),
            where,
            f"{port_raw!r} is not a port",
            "use a number from 1 to 65535, e.g. 8000",
        ) from None

    flows = reader.section(root, "flows", "flows", required=False)
    reader.known_keys(flows, ("dir", "main"), "flows")
    flows_dir_text = environ.get("PLAZA_FLOWS_DIR") or reader.string(flows, "dir", "flows", default="flows")
    flows_dir = (config_path.parent / flows_dir_text).resolve()
    main_flow = reader.string(flows, "main", "flows", default="main_menu")

    departments: dict[str, Department] = {}
    dept_section = reader.section(root, "departments", "departments")
    for key, node in dept_section.items():
        where = f"departments.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                dept_section,
                where,
                f"expected a mapping, found {node!r}",
                "give the department a `name: {es: ..., en: ...}`",
                key,
            )
        reader.known_keys(node, ("name", "private", "office_hours"), where)
        departments[str(key)] = Department(
            key=str(key),
            name=reader.translations(node, "name", where, languages),
            private=reader.boolean(node, "private", where, False),
            office_hours=read_office_hours(reader, node, where, languages),
        )
    if not departments:
        raise reader.fail(root, "departments", "no departments", "add at least one department", "departments")

    categories: dict[str, Category] = {}
    cat_section = reader.section(root, "categories", "categories")
    for key, node in cat_section.items():
        where = f"categories.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                cat_section,
                where,
                f"expected a mapping, found {node!r}",
                "give the category a `label:` and a `department:`",
                key,
            )
        reader.known_keys(node, ("label", "department", "private"), where)
        department = reader.department(node, where, departments)
        categories[str(key)] = Category(
            key=str(key),
            label=reader.translations(node, "label", where, languages),
            department=department,
            private=reader.boolean(node, "private", where, departments[department].private),
        )

    topics: dict[str, Topic] = {}
    topic_section = reader.section(root, "topics", "topics", required=False)
    for key in topic_section:
        topics[str(key)] = Topic(key=str(key), label=reader.translations(topic_section, str(key), "topics", languages))

    activities = _activities(reader, root, languages)
    procedures = _procedures(reader, root, languages, departments)
    services = parse_services(
        reader, reader.section(root, "services", "services", required=False), departments, languages
    )
    people = read_people(reader, root, departments, languages)

    channels: dict[str, ChannelSettings] = {}
    chan_section = reader.section(root, "channels", "channels", required=False)
    reader.known_keys(chan_section, KNOWN_CHANNELS, "channels")
    for name in KNOWN_CHANNELS:
        node = chan_section.get(name)
        if node is None:
            node = CommentedMap({"enabled": name in ("web", "console")})
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                chan_section,
                f"channels.{name}",
                f"expected a mapping, found {node!r}",
                "write `enabled: true` or `enabled: false` under it",
                name,
            )
        enabled = reader.boolean(node, "enabled", f"channels.{name}", False)
        settings = {str(k): v for k, v in node.items() if k != "enabled"}
        channels[name] = ChannelSettings(name=name, enabled=enabled, settings=settings)

    return Config(
        path=config_path,
        town_name=town_name,
        ticket_prefix=ticket_prefix.upper(),
        timezone=timezone,
        default_language=default_language,
        languages=languages,
        database_url=database_url,
        host=host,
        port=port,
        flows_dir=flows_dir,
        main_flow=main_flow,
        departments=departments,
        categories=categories,
        channels=channels,
        topics=topics,
        activities=activities,
        procedures=procedures,
        services=services,
        people=people,
        handoff=_read_handoff(reader, root, departments),
        privacy=_read_privacy(reader, root),
        limits=_read_limits(reader, root),
        secret_key=environ.get("PLAZA_SECRET_KEY") or None,
    )


def _read_handoff(reader: _Reader, root: CommentedMap, departments: Mapping[str, Department]) -> HandoffSettings:
    node = reader.section(root, "handoff", "handoff", required=False)
    reader.known_keys(node, ("person_flow", "failures", "alert_after_minutes"), "handoff")
    failures = reader.department(node, "handoff", departments, key="failures") if "failures" in node else None
    minutes = node.get("alert_after_minutes", 30)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10080:
        raise reader.fail(
            node,
            "handoff.alert_after_minutes",
            f"expected a number of minutes, found {minutes!r}",
            "write a whole number from 1 to 10080 (a week), e.g. `alert_after_minutes: 30`",
            "alert_after_minutes",
        )
    return HandoffSettings(
        person_flow=reader.string(node, "person_flow", "handoff") if "person_flow" in node else None,
        failures=failures,
        alert_after_minutes=minutes,
    )


def _read_privacy(reader: _Reader, root: CommentedMap) -> PrivacySettings:
    node = reader.section(root, "privacy", "privacy", required=False)
    reader.known_keys(node, ("retention_days", "public_url"), "privacy")
    days = node.get("retention_days", 365)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        raise reader.fail(
            node,
            "privacy.retention_days",
            f"expected a number of days, found {days!r}",
            "write a whole number of days from 1 to 36500, e.g. `retention_days: 365`",
            "retention_days",
        )
    public_url = reader.string(node, "public_url", "privacy") if "public_url" in node else None
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise reader.fail(
            node,
            "privacy.public_url",
            f"expected a web address, found {public_url!r}",
            "write the address residents reach Plaza at, e.g. `public_url: https://plaza.jun.es`",
            "public_url",
        )
    return PrivacySettings(retention_days=days, public_url=public_url.rstrip("/") if public_url else None)


def _read_limits(reader: _Reader, root: CommentedMap) -> LimitSettings:
    node = reader.section(root, "limits", "limits", required=False)
    keys = ("messages_per_window", "window_seconds")
    reader.known_keys(node, keys, "limits")
    ranges = {"messages_per_window": (1, 10000, 20), "window_seconds": (1, 86400, 60)}
    values: dict[str, int] = {}
    for key in keys:
        low, high, default = ranges[key]
        value = node.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise reader.fail(
                node,
                f"limits.{key}",
                f"expected a whole number, found {value!r}",
                f"write a whole number from {low} to {high}, e.g. `{key}: {default}`",
                key,
            )
        values[key] = value
    return LimitSettings(**values)
