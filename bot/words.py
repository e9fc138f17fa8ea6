"""The global words (menu, help, cancel, back, language, person, emergency, and the account's:
verify, unlink, my_data, erase) that work in every state.

The words themselves are wording, so they live in ``flows/words.yaml``;
this module reads them and recognizes them in what a resident wrote.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from bot.errors import FlowError, FlowErrors
from bot.yamlfile import YamlProblem, key_line, read_yaml

__all__ = ["COMMANDS", "WITH_ARGUMENT", "Command", "GlobalWords", "load_words", "normalize"]

COMMANDS = (
    "menu",
    "help",
    "cancel",
    "back",
    "language",
    "person",
    "emergency",
    "verify",
    "unlink",
    "my_data",
    "erase",
)
WITH_ARGUMENT = ("verify",)
"""Commands that may be followed by what they act on ("verificar 123456")."""


def normalize(text: str) -> str:
    """Lower case, no accents (but ñ kept), punctuation and repeated spaces removed."""
    decomposed = unicodedata.normalize("NFD", text.strip().lower().replace("ñ", "\0"))
    kept = [c for c in decomposed if unicodedata.category(c) != "Mn"]
    cleaned = "".join(c if c.isalnum() or c in "\0?" else " " for c in kept).replace("\0", "ñ")
    return " ".join(cleaned.split())


@dataclass(frozen=True, slots=True)
class Command:
    """A recognized global word; ``language`` is set for "idioma en"-like commands, ``argument`` for
    "verificar 123456"-like ones (the rest of the text, normalized)."""

    name: str
    language: str | None = None
    argument: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalWords:
    words: Mapping[str, str]  # normalized word -> command
    language_names: Mapping[str, str]  # normalized name -> language code

    def match(self, text: str | None) -> Command | None:
        """The command ``text`` is, if it is nothing but a global word (plus a language)."""
        if not text or len(text) > 60:
            return None
        normalized = normalize(text.lstrip("/"))
        if normalized in self.words:
            return Command(self.words[normalized])
        head, _, rest = normalized.partition(" ")
        if self.words.get(head) == "language" and rest in self.language_names:
            return Command("language", self.language_names[rest])
        if self.words.get(head) in WITH_ARGUMENT and rest:
            return Command(self.words[head], argument=rest)
        return None

    def language_named(self, text: str | None) -> str | None:
        """The language code ``text`` names ("english", "es"), if any."""
        return self.language_names.get(normalize(text or ""))


def load_words(path: Path, languages: tuple[str, ...]) -> GlobalWords:
    """Read ``words.yaml``; every command needs words and every language names."""
    shown = str(path)
    try:
        root = read_yaml(path)
    except YamlProblem as problem:
        raise FlowErrors([FlowError(shown, problem.line, problem.problem, problem.hint)]) from None
    errors: list[FlowError] = []
    words: dict[str, str] = {}
    names: dict[str, str] = {}
    if not isinstance(root, CommentedMap) or not isinstance(root.get("words"), CommentedMap):
        raise FlowErrors([FlowError(shown, 1, "expected a `words:` section", "start from the shipped words.yaml")])
    section = root["words"]
    for command in COMMANDS:
        entries = section.get(command)
        if not isinstance(entries, list) or not entries:
            errors.append(
                FlowError(
                    shown,
                    key_line(section, command) if command in section else key_line(root, "words"),
                    f"no words for `{command}`",
                    f"add `{command}: [word, word]`",
                )
            )
            continue
        for entry in entries:
            words[normalize(str(entry))] = command
    for key in section:
        if key not in COMMANDS:
            errors.append(
                FlowError(
                    shown,
                    key_line(section, key),
                    f"unknown command `{key}`",
                    f"the commands are: {', '.join(COMMANDS)}",
                )
            )
    lang_section = root.get("languages")
    for language in languages:
        entries = lang_section.get(language) if isinstance(lang_section, CommentedMap) else None
        if not isinstance(entries, list) or not entries:
            errors.append(
                FlowError(
                    shown,
                    key_line(root, "languages") if "languages" in root else 1,
                    f"no names for language `{language}`",
                    f"add `{language}: [name, name]` under `languages:`",
                )
            )
            continue
        for entry in entries:
            names[normalize(str(entry))] = language
    if errors:
        raise FlowErrors(errors)
    return GlobalWords(words=words, language_names=names)
