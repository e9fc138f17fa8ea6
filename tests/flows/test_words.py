"""words.yaml: the emergency word is one of the commands every town must keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import FlowErrors
from bot.words import Command, load_words

WORDS = Path(__file__).resolve().parents[2] / "flows" / "words.yaml"


@pytest.mark.parametrize("text", ["emergencia", "¡URGENTE!", "112", "urgencia", "Emergency", "urgent"])
def test_the_emergency_words_are_recognized(text: str) -> None:
    assert load_words(WORDS, ("es", "en")).match(text) == Command("emergency")


@pytest.mark.parametrize("text", ["urgente, sale agua", "1", "11", "emergencias médicas"])
def test_a_sentence_with_an_emergency_word_is_an_answer(text: str) -> None:
    assert load_words(WORDS, ("es", "en")).match(text) is None


def test_the_emergency_command_cannot_be_removed(tmp_path: Path) -> None:
    source = WORDS.read_text(encoding="utf-8")
    line = next(line for line in source.splitlines() if line.strip().startswith("emergency:"))
    path = tmp_path / "words.yaml"
    path.write_text(source.replace(line + "\n", ""), encoding="utf-8")
    with pytest.raises(FlowErrors) as raised:
        load_words(path, ("es", "en"))
    [error] = raised.value.errors
    assert error.problem == "no words for `emergency`"
    assert error.hint == "add `emergency: [word, word]`"
