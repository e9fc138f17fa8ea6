"""The town with a secret key, for every verification test."""

from __future__ import annotations

import pytest

from bot.config import Config
from tests.support.residents import with_secret


@pytest.fixture
def town(config: Config) -> Config:
    return with_secret(config)
