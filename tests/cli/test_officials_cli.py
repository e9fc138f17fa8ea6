"""``plaza officials add|list|disable|password``, and the admin the first ``plaza serve`` creates."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.support.server import ROOT, PlazaProcess, run_plaza

PASSWORD = "a long enough secret"


@pytest.fixture
def town(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    assert run_plaza(tmp_path / "config.yaml", "db", "upgrade").returncode == 0
    return tmp_path / "config.yaml"


def rows(town: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(town.parent / "var" / "plaza.sqlite3") as connection:
        return connection.execute(sql).fetchall()


def add(town: Path, username: str, *args: str, password: str = PASSWORD) -> tuple[int, str, str]:
    result = run_plaza(town, "officials", "add", username, *args, "--password-stdin", input=password + "\n")
    return result.returncode, result.stdout, result.stderr


def test_add_list_disable_and_audit(town: Path) -> None:
    code, out, err = add(town, "Marta.Ruiz", "--name", "Marta Ruiz", "--department", "servicios", "--role", "lead")
    assert code == 0, err
    assert out.strip() == "marta.ruiz: Marta Ruiz, lead of servicios; they can log in at /inbox"
    [(stored,)] = rows(town, "SELECT password_hash FROM officials")
    assert isinstance(stored, str) and stored.startswith("$argon2id$") and PASSWORD not in stored

    listed = run_plaza(town, "officials", "list")
    assert listed.returncode == 0
    assert re.search(r"marta\.ruiz\s+servicios\s+lead\s+enabled\s+Marta Ruiz", listed.stdout), listed.stdout

    disabled = run_plaza(town, "officials", "disable", "marta.ruiz")
    assert disabled.returncode == 0, disabled.stderr
    assert re.search(r"marta\.ruiz\s+servicios\s+lead\s+disabled", run_plaza(town, "officials", "list").stdout)
    assert rows(town, "SELECT actor, action FROM audit_log ORDER BY id") == [
        ("cli", "official_add"),
        ("cli", "official_disable"),
    ]


def test_bad_accounts_are_refused_with_the_reason(town: Path) -> None:
    code, _, err = add(town, "marta", "--name", "Marta", "--department", "bomberos")
    assert code == 1 and "there is no department 'bomberos'" in err and "servicios" in err
    code, _, err = add(town, "marta", "--name", "Marta", "--department", "servicios", password="short")
    assert code == 1 and "too short" in err
    assert add(town, "marta", "--name", "Marta", "--department", "servicios")[0] == 0
    code, _, err = add(town, "MARTA", "--name", "Otra", "--department", "servicios")
    assert code == 1 and "already an official" in err
    wrong_role = run_plaza(town, "officials", "add", "x", "--name", "X", "--department", "servicios", "--role", "king")
    assert wrong_role.returncode == 2 and "invalid choice" in wrong_role.stderr
    missing = run_plaza(town, "officials", "disable", "nobody")
    assert missing.returncode == 1 and "no official with the username 'nobody'" in missing.stderr
    assert rows(town, "SELECT count(*) FROM officials") == [(1,)]


def test_a_new_password_ends_the_sessions(town: Path) -> None:
    assert add(town, "marta", "--name", "Marta", "--department", "servicios")[0] == 0
    changed = run_plaza(town, "officials", "password", "marta", "--password-stdin", input="another long secret\n")
    assert changed.returncode == 0, changed.stderr
    assert rows(town, "SELECT action FROM audit_log ORDER BY id")[-1] == ("official_password",)


def test_the_first_serve_creates_an_admin_who_can_log_in(town: Path) -> None:
    with PlazaProcess(town) as server:
        found = re.search(r"the password\s+(\S+)\s", server.output())
        assert found, server.output()
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            form = http.get("/inbox/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            response = http.post(
                "/inbox/login", data={"csrf": csrf.group(1), "username": "admin", "password": found.group(1)}
            )
            assert response.status_code == 303
            assert http.get("/inbox/queues/waiting").status_code == 200
    assert rows(town, "SELECT username, role FROM officials") == [("admin", "admin")]
    with PlazaProcess(town) as again:
        assert "the password" not in again.output(), "shown only the first time"
