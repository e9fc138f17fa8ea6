"""No secret appears in a log line or an error page, in text or JSON logs.

``plaza serve`` runs as a subprocess with known secrets in its environment
(the Telegram bot token, which the Bot API puts in every URL, the webhook
secret, X's four keys, the Mastodon token, ``PLAZA_SECRET_KEY``), Telegram
enabled against the fake Bot API (which then fails a send), and at INFO, so
httpx logs every Bot API URL and uvicorn every request line. The test makes
errors happen (a wrong login password, malformed chat messages, an Open311
call with an ``api_key`` in its query, a webhook with a wrong secret) and
then reads everything the process printed and every answer it gave: no
secret may be in them, and ``[redacted]`` must be, which shows the values
did reach the logging and were blanked out there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.testing.telegram_server import FakeTelegram, serve_fake_telegram
from bot.redaction import MASK, RedactSecrets, redact
from tests.support.scale import town_with
from tests.support.server import PlazaProcess, run_plaza, wait_for

pytestmark = pytest.mark.slow

TOKEN = "7012345678:AAHfake-Bot_token-for-the-redaction-test"
SECRETS = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-value-42",
    "X_CONSUMER_KEY": "x-consumer-key-value",
    "X_CONSUMER_SECRET": "x-consumer-secret-value",
    "X_ACCESS_TOKEN": "x-access-token-value",
    "X_ACCESS_TOKEN_SECRET": "x-access-token-secret-value",
    "MASTODON_ACCESS_TOKEN": "mastodon-token-value-123",
    "PLAZA_SECRET_KEY": "plaza-secret-key-value-long-enough-0123456789",
}
PASSWORD = "Correct-Horse-Battery-Staple-99"
API_KEY = "open311-api-key-value-987"
SESSION = "chat-session-id-0123456789abcdef"


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # python-telegram-bot warns otherwise on a 429


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with serve_fake_telegram(token=TOKEN) as fake:
        yield fake


def test_the_filter_blanks_known_values_and_credential_shapes() -> None:
    cleaner = RedactSecrets(environ={"SOME_API_TOKEN": "abcdef123", "PLAZA_DATABASE_URL": "postgresql://u:pw-9876@h/d"})
    assert cleaner.secrets == {"abcdef123", "pw-9876"}
    assert (
        redact("POST http://x/bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe") == f"POST http://x/bot{MASK}/getMe"
    )
    assert redact("GET /open311/v2/requests.json?api_key=k1&x=1") == f"GET /open311/v2/requests.json?api_key={MASK}&x=1"
    assert redact("POST /chat/api/abcdefghijklmnop1234/messages") == f"POST /chat/api/{MASK}/messages"


def exercise(base_url: str, fake: FakeTelegram) -> list[str]:
    """Errors of every kind; returns the bodies of the answers."""
    answers: list[str] = []
    with httpx.Client(base_url=base_url, timeout=15.0) as client:
        page = client.get("/inbox/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        answers.append(
            client.post("/inbox/login", data={"csrf": csrf.group(1), "username": "admin", "password": PASSWORD}).text
        )
        answers.append(client.post(f"/chat/api/{SESSION}/messages", content=b"{not json").text)
        answers.append(client.post(f"/chat/api/{SESSION}/messages", json={"text": "x" * 5000}).text)
        answers.append(client.get(f"/open311/v2/requests.json?api_key={API_KEY}&start_date=yesterday").text)
        answers.append(client.post("/open311/v2/requests.json", data={"api_key": API_KEY, "service_code": "x"}).text)
        answers.append(
            client.post(
                "/webhooks/telegram",
                json={"update_id": 1},
                headers={"x-telegram-bot-api-secret-token": "wrong-" + SECRETS["TELEGRAM_WEBHOOK_SECRET"]},
            ).text
        )
    return answers


def telegram_fails(server: PlazaProcess, fake: FakeTelegram) -> None:
    """A resident writes on Telegram and the reply fails there (a 500): httpx logs the call, the sender retries."""
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    fake.push_text(fake.user(401, "Ana"), "hola")
    wait_for(lambda: "sendMessage" in server.output(), 60)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_logs_or_answers(tmp_path: Path, fake: FakeTelegram, log_format: str) -> None:
    town = town_with(tmp_path, telegram=True)
    upgraded = run_plaza(town, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    env = {
        **SECRETS,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "PLAZA_LOG_LEVEL": "INFO",
        "PLAZA_LOG_FORMAT": log_format,
        "PTB_TIMEDELTA": "true",
    }
    server = PlazaProcess(town, env=env)
    try:
        server.start(timeout=60)
        answers = exercise(server.base_url, fake)
        telegram_fails(server, fake)
    finally:
        server.stop()
    output = server.output()
    everything = output + "\n".join(answers)
    leaked = [name for name, value in SECRETS.items() if value in everything]
    leaked += [
        what
        for what, value in (("password", PASSWORD), ("api_key", API_KEY), ("session", SESSION))
        if value in everything
    ]
    assert leaked == [], f"{leaked} appear in the output:\n{output[-3000:]}"
    assert MASK in output, "the Bot API URLs (and the request lines) were logged, blanked"
    assert "getUpdates" in output and "sendMessage" in output, "httpx's request lines were logged"
