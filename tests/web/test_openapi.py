"""The OpenAPI description (``/openapi.json``, bot/web/openapi.json) against the real app, with schemathesis.

Schemathesis reads the description the app serves and sends generated
requests to every documented operation, in process (ASGI), on SQLite with
a seeded service request and an API key: no answer may be a 500, and every
status code, content type and JSON body must be the documented ones (all of
schemathesis's checks but ``positive_data_acceptance``: Open311's cross-field
rules cannot be written in OpenAPI).
``PLAZA_FUZZ_EXAMPLES`` raises the number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from adapters.web import WebChannel
from bot.config import Config
from bot.runtime import Plaza
from bot.web.app import create_app
from models.db import Database
from tests.support.fuzz import examples
from tests.support.plazaweb import new_key, seed_request


@pytest.fixture
def app(config: Config, sqlite: Database) -> Iterator[Any]:
    seed_request(sqlite, created_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    new_key(sqlite)
    web = WebChannel()
    plaza = Plaza(config, [web], database=sqlite, reminder_interval=None, reload_interval=None)
    yield create_app(plaza, web, manage_lifespan=False)


def test_every_documented_endpoint_answers_as_documented(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12, [operation.label for operation in operations]
    for operation in operations:

        @settings(
            max_examples=examples(25, share=0.02),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            try:
                # positive_data_acceptance: Open311's cross-field rules (end_date before start_date...) cannot be
                # said in OpenAPI, so a schema-valid request may rightly get 400; every other check applies
                case.call_and_validate(excluded_checks=[positive_data_acceptance])
            except Exception as error:
                print(
                    f"FAILED ON {case.method} {case.formatted_path} query={case.query} body={case.body!r}"[:500], error
                )
                raise

        call()
