"""Known vulnerabilities of the pinned runtime set: `make audit` (CI runs it after the lint).

Usage: python .ci/audit.py [requirements.lock]

pip-audit asks PyPI about each pinned version (https://pypi.org/pypi/NAME/VERSION/json). Where
those answers are not to be had (a registry mirror that serves only each project's page, as on
the machines CI runs on here, where pip-audit then skips every package and still says "No known
vulnerabilities found"), the project's page (https://pypi.org/pypi/NAME/json) lists the
vulnerabilities of its latest release: a pin that is the latest release is audited from that.

Exits 1 on a known vulnerability, and on a pin that could be audited neither way (an audit
that skipped a package is no all-clear); 0 when every pin was audited and none is vulnerable.
"""

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every entry of a pip-compile lock."""
    return {
        canonical(m[1]): m[2] for line in lock.read_text().splitlines() if (m := PIN.match(line))
    }


def pip_audit(lock: Path) -> list[dict]:
    """pip-audit's report on the lock's pins: one entry a package, with vulns or a skip_reason."""
    command = [str(PIP_AUDIT), "-r", str(lock), "--no-deps", "--disable-pip"]
    command += ["--format", "json", "--progress-spinner", "off"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode not in (0, 1):  # 1: vulnerabilities found, reported in the JSON
        sys.exit(f"pip-audit failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)["dependencies"]


def project_page(name: str) -> dict:
    """PyPI's JSON page of a project: its latest release and that release's vulnerabilities."""
    url = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _words(vuln: dict) -> str:
    ids = ", ".join([vuln["id"], *vuln.get("aliases", [])])
    fixed = vuln.get("fix_versions") or vuln.get("fixed_in") or []
    return f"{ids} (fixed in {', '.join(fixed)})" if fixed else f"{ids} (no fix yet)"


def _distinct(vulns: list[dict]) -> list[dict]:
    # PyPI lists one advisory under each of its databases' ids (PYSEC, GHSA): once is enough.
    seen: set[str] = set()
    kept = []
    for vuln in vulns:
        ids = {vuln["id"], *vuln.get("aliases", [])}
        if not ids & seen:
            kept.append(vuln)
        seen |= ids
    return kept


def verdict(
    pinned: dict[str, str], report: list[dict], page: Callable[[str], dict]
) -> tuple[list[str], list[str]]:
    """(problems, how each pin was audited): vulnerabilities and unaudited pins are problems."""
    problems, audited = [], []
    for entry in report:
        name = canonical(entry["name"])
        version = pinned.get(name, entry.get("version", "?"))
        if "skip_reason" not in entry:
            vulns = _distinct(entry.get("vulns", []))
            problems += [f"{name} {version}: {_words(v)}" for v in vulns]
            audited.append(f"{name} {version}: pip-audit")
            continue
        try:
            found = page(name)
        except OSError as exc:
            problems.append(f"{name} {version}: not audited ({entry['skip_reason']}; {exc})")
            continue
        latest = found["info"]["version"]
        if latest != version:
            problems.append(
                f"{name} {version}: not audited (PyPI answers here only for the latest "
                f"release, {latest}: move the pin, or audit where PyPI answers in full)"
            )
            continue
        vulns = _distinct([v for v in found.get("vulnerabilities", []) if not v.get("withdrawn")])
        problems += [f"{name} {version}: {_words(v)}" for v in vulns]
        audited.append(f"{name} {version}: the project's page (the latest release)")
    missing = sorted(set(pinned) - {canonical(e["name"]) for e in report})
    problems += [f"{name} {pinned[name]}: not in pip-audit's report" for name in missing]
    return problems, audited


def main() -> int:
    lock = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "requirements.lock"
    problems, audited = verdict(pins(lock), pip_audit(lock), project_page)
    print(f"Audited {len(audited)} pinned package(s) of {lock.name}.")
    for line in problems:
        print(f"  {line}")
    if problems:
        print(f"{len(problems)} problem(s): known vulnerabilities or pins not audited.")
        return 1
    print("No known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
