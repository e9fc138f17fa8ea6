"""`make audit`: known-vulnerable dependencies (pip-audit), and an honest word when nothing could be checked.

Runs ``pip-audit`` on this environment against PyPI's vulnerability data
(``-s pypi``; ``PLAZA_AUDIT_SERVICE=osv`` for OSV) and reads its JSON:

- a dependency with a known vulnerability: each is printed with its ids and
  the versions that fix it, and the exit status is 1 (CI fails);
- dependencies pip-audit could not look up (the service is unreachable, or
  answers nothing for that version, as a registry mirror without per-version
  data does) are looked up once more in PyPI's project JSON
  (``/pypi/NAME/json``), whose ``vulnerabilities`` are those of the latest
  release: when that is the installed version, the package is audited from
  it; the rest are counted and named, and the run says in capitals that
  they were NOT audited. That is not a failure of the project, so the exit
  status stays 0, but it is never reported as "no known vulnerabilities";
- otherwise: "no known vulnerabilities in N dependencies".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent


def latest_release_vulns(dep: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The known vulnerabilities of ``dep`` from PyPI's project JSON, if it describes the installed version."""
    try:
        dep.setdefault("version", metadata.version(dep["name"]))
    except metadata.PackageNotFoundError:
        return None
    try:
        answer = httpx.get(f"https://pypi.org/pypi/{dep['name']}/json", timeout=15.0)
        data = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not data or data.get("info", {}).get("version") != dep.get("version") or "vulnerabilities" not in data:
        return None
    return [
        {"id": vuln.get("id", "?"), "fix_versions": vuln.get("fixed_in") or []}
        for vuln in data["vulnerabilities"]
        if not vuln.get("withdrawn")
    ]


def main() -> int:
    service = os.environ.get("PLAZA_AUDIT_SERVICE", "pypi")
    command = [str(VENV_BIN / "pip-audit"), "-s", service, "--progress-spinner", "off", "-f", "json"]
    try:
        # the command is this venv's own pip-audit with fixed arguments: nothing untrusted reaches it
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"audit: NOT AUDITED: pip-audit could not run ({error})")
        return 0
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: NOT AUDITED: the vulnerability service `{service}` could not be reached ({last})")
        return 0
    dependencies = report.get("dependencies", [])
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(latest_release_vulns, skipped))
    for dep, vulns in zip(skipped, found, strict=True):
        if vulns is not None:
            dep.pop("skip_reason")
            dep["vulns"] = vulns
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    vulnerable = [dep for dep in audited if dep.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"audit: VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        names = ", ".join(f"{dep['name']}" for dep in skipped)
        print(
            f"audit: NOT AUDITED: {len(skipped)} of {len(dependencies)} dependencies could not be looked up "
            f"in `{service}` (unreachable, or no data for the installed version): {names}"
        )
    if audited and not vulnerable:
        print(f"audit: no known vulnerabilities in the {len(audited)} dependencies that could be looked up")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
