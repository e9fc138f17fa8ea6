"""The town's flows as the engine uses them: loaded, checked, compiled and pinned.

A :class:`FlowCatalog` holds the current good set of flows (and the words
and wording next to them). Every flow version the catalog ever served is
stored in ``flow_versions``, so a conversation keeps the version it started
with even after the file changed or the server restarted.

:meth:`FlowCatalog.reload` re-reads the folder; if anything is broken it
raises and keeps serving the last good set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from bot.actions import ACTIONS
from bot.config import Config
from bot.directory import person_label
from bot.errors import FlowError, FlowErrors
from bot.flows import PARTS_DIR, Flow, FlowContext, FlowSet, OptionSpec, load_flows, parse_flow, saved_names
from bot.machine import CompiledFlow, compile_flow
from bot.words import GlobalWords, load_words
from models import FlowVersion

__all__ = ["FlowCatalog", "Snapshot", "flow_context", "load_snapshot"]

log = logging.getLogger(__name__)

WORDS_FILE = "words.yaml"
FLOW_VERSIONS = FlowVersion.__table__  # type: ignore[attr-defined]


def flow_context(config: Config) -> FlowContext:
    """What flow validation needs from config.yaml and the action registry."""
    categories = tuple(OptionSpec(key=c.key, label=dict(c.label)) for c in config.categories.values())
    topics = tuple(OptionSpec(key=t.key, label=dict(t.label)) for t in config.topics.values())
    activities = tuple(OptionSpec(key=a.key, label=dict(a.label)) for a in config.activities.values())
    services = tuple(OptionSpec(key=s.key, label=dict(s.label)) for s in config.services.values())
    departments = tuple(OptionSpec(key=d.key, label=dict(d.name)) for d in config.departments.values())
    people = tuple(
        OptionSpec(key=p.key, label={lang: person_label(p, lang) for lang in config.languages})
        for p in config.people.values()
    )
    return FlowContext(
        languages=config.languages,
        option_sources={
            "categories": categories,
            "topics": topics,
            "activities": activities,
            "services": services,
            "departments": departments,
            "people": people,
        },
        actions={name: spec.provides for name, spec in ACTIONS.items()},
        lists={name: spec.lists for name, spec in ACTIONS.items() if spec.lists},
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent set: the flows, their machines, the wording and the words."""

    flows: FlowSet
    compiled: Mapping[str, CompiledFlow]
    words: GlobalWords
    fingerprint: tuple[tuple[str, float, int], ...]


def _fingerprint(directory: Path) -> tuple[tuple[str, float, int], ...]:
    files = sorted([*directory.glob("*.yaml"), *(directory / PARTS_DIR).glob("*.yaml")])
    return tuple((str(f.relative_to(directory)), f.stat().st_mtime, f.stat().st_size) for f in files)


def load_snapshot(config: Config) -> Snapshot:
    """Load and check every flow file; raises :class:`FlowErrors` listing every problem."""
    directory = config.flows_dir
    if not directory.is_dir():
        raise FlowErrors(
            [
                FlowError(
                    str(directory),
                    None,
                    "the flows folder does not exist",
                    "set flows.dir in config.yaml or PLAZA_FLOWS_DIR",
                )
            ]
        )
    fingerprint = _fingerprint(directory)
    problems: list[FlowError] = []
    flows: FlowSet | None = None
    words: GlobalWords | None = None
    try:
        flows = load_flows(directory, flow_context(config), main=config.main_flow)
    except FlowErrors as error:
        problems.extend(error.errors)
    try:
        words = load_words(directory / WORDS_FILE, config.languages)
    except FlowErrors as error:
        problems.extend(error.errors)
    person_flow = config.handoff.person_flow
    if person_flow is not None and flows is not None and person_flow not in flows.flows:
        problems.append(
            FlowError(
                str(config.path),
                None,
                f"handoff.person_flow names the flow {person_flow!r}, which is not in {directory}",
                "name the flow that hands a conversation to a person (the shipped one is talk_to)",
            )
        )
    if problems or flows is None or words is None:
        raise FlowErrors(problems)
    compiled = {name: compile_flow(flow) for name, flow in flows.flows.items()}
    return Snapshot(flows=flows, compiled=compiled, words=words, fingerprint=fingerprint)


class FlowCatalog:
    """The current flows, older pinned versions on demand, and safe reloading."""

    def __init__(self, config: Config, engine: Engine) -> None:
        self._config = config
        self._engine = engine
        self._lock = threading.Lock()
        self._snapshot = load_snapshot(config)
        self._versions: dict[tuple[str, str], CompiledFlow] = {}
        self._broken: tuple[tuple[str, float, int], ...] | None = None
        self._remember(self._snapshot)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def main(self) -> CompiledFlow:
        return self._snapshot.compiled[self._config.main_flow]

    def current(self, name: str) -> CompiledFlow:
        """The newest good version of a flow (for a conversation starting it now)."""
        return self._snapshot.compiled[name]

    def get(self, name: str, version: str, connection: Connection | None = None) -> CompiledFlow:
        """A flow at the version a conversation is pinned to.

        Pass the step's ``connection`` when calling from inside a transaction: on
        SQLite a second connection would wait for the write lock that step holds.
        """
        with self._lock:
            found = self._versions.get((name, version))
        if found is not None:
            return found
        query = select(FLOW_VERSIONS.c.source, FLOW_VERSIONS.c.path).where(
            FLOW_VERSIONS.c.name == name, FLOW_VERSIONS.c.version == version
        )
        if connection is not None:
            row = connection.execute(query).first()
        else:
            with self._engine.connect() as own:
                row = own.execute(query).first()
        if row is None:
            log.warning("flow %s version %s is unknown; using the current version", name, version)
            return self.current(name)
        context = flow_context(self._config)
        current = self._snapshot.flows.flows
        context = replace(context, called={n: frozenset(saved_names(f, context)) for n, f in current.items()})
        flow = parse_flow(row.source, row.path, context)
        compiled = compile_flow(flow)
        with self._lock:
            self._versions[(name, version)] = compiled
        return compiled

    def changed(self) -> bool:
        """Whether the files differ from the current set and from the last broken set seen."""
        try:
            fingerprint = _fingerprint(self._config.flows_dir)
        except OSError:
            return False
        return fingerprint not in (self._snapshot.fingerprint, self._broken)

    def reload(self) -> Snapshot:
        """Re-read the flows; on any problem raise and keep the last good set."""
        try:
            snapshot = load_snapshot(self._config)
        except FlowErrors:
            self._broken = _fingerprint(self._config.flows_dir)
            raise
        self._remember(snapshot)
        self._snapshot = snapshot
        return snapshot

    def _remember(self, snapshot: Snapshot) -> None:
        with self._lock:
            for compiled in snapshot.compiled.values():
                self._versions[(compiled.name, compiled.version)] = compiled
        self._store_versions(snapshot.flows.flows.values())

    def _store_versions(self, flows: object) -> None:
        table = FLOW_VERSIONS
        with self._engine.begin() as connection:
            known = {(row.name, row.version) for row in connection.execute(select(table.c.name, table.c.version))}
            fresh = [
                {"name": f.name, "version": f.version, "path": f.path, "source": f.source}
                for f in flows  # type: ignore[attr-defined]
                if isinstance(f, Flow) and (f.name, f.version) not in known
            ]
            if fresh:
                connection.execute(insert(table), fresh)
