"""Real servers for tests: the ASGI app under uvicorn in a thread, and ``plaza serve`` as a subprocess.

``AppServer`` runs an app in this process (the test can still look at the
database); ``PlazaProcess`` runs the real command, so a test can SIGKILL it.
Both wait until ``/healthz`` answers before returning from ``start``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from adapters.testing.serving import AppServer, free_port, tiny_png

ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "ROOT",
    "AppServer",
    "PlazaProcess",
    "free_port",
    "plaza_command",
    "plaza_env",
    "run_plaza",
    "tiny_png",
    "wait_for",
]


def plaza_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def plaza_env(config_path: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``plaza`` subprocess: this repo importable, the given config, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAZA_")}
    env["PLAZA_CONFIG"] = str(config_path)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_plaza(
    config_path: Path, *args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        plaza_command(*args),
        env=plaza_env(config_path, env),
        cwd=config_path.parent,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class PlazaProcess:
    """``plaza serve --port P`` as a subprocess, with its output in ``log``."""

    def __init__(
        self,
        config_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.config_path = config_path
        self.args = tuple(args)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = plaza_env(config_path, env)
        self.log = config_path.parent / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Self:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                plaza_command("serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args),
                env=self.env,
                cwd=self.config_path.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"plaza serve exited with {code}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"plaza serve did not become healthy:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
