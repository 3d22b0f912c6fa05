"""Known vulnerabilities of the pinned runtime set: `make audit` (CI runs it after the lint).

Usage: python .ci/audit.py [requirements.lock]

pip-audit asks PyPI about each pinned version (https://pypi.org/pypi/NAME/VERSION/json). Where
those answers are not to be had (a registry mirror that serves only each project's page, as on
the machines CI runs on here, where pip-audit then skips every package and still says "No known
vulnerabilities found"), the project's page (https://pypi.org/pypi/NAME/json) lists the
vulnerabilities of its latest release: a pin that is the latest release is audited from that.

Exits 1 on a known vulnerability. A pin that could be audited neither way (an older pin when
only the latest release's answer is to be had, or PyPI not answering) is listed as not audited
and, unless --strict, does not fail the build: a new upstream release is no vulnerability, and
CI must not break the day one comes out. With --strict (where PyPI answers in full) it fails.
"""

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
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


@dataclass
class Verdict:
    """Known vulnerabilities, pins not audited, and how each audited pin was, in words."""

    vulnerable: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)


def verdict(pinned: dict[str, str], report: list[dict], page: Callable[[str], dict]) -> Verdict:
    """What pip-audit's report, completed from the project pages, says of each pin."""
    result = Verdict()
    problems, audited = result.vulnerable, result.audited
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
            result.unaudited.append(
                f"{name} {version}: not audited ({entry['skip_reason']}; {exc})"
            )
            continue
        latest = found["info"]["version"]
        if latest != version:
            result.unaudited.append(
                f"{name} {version}: not audited (PyPI answers here only for the latest "
                f"release, {latest}: move the pin, or audit where PyPI answers in full)"
            )
            continue
        vulns = _distinct([v for v in found.get("vulnerabilities", []) if not v.get("withdrawn")])
        problems += [f"{name} {version}: {_words(v)}" for v in vulns]
        audited.append(f"{name} {version}: the project's page (the latest release)")
    missing = sorted(set(pinned) - {canonical(e["name"]) for e in report})
    result.unaudited += [f"{name} {pinned[name]}: not in pip-audit's report" for name in missing]
    return result


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--strict"]
    strict = "--strict" in sys.argv[1:]
    lock = Path(args[0]) if args else ROOT / "requirements.lock"
    result = verdict(pins(lock), pip_audit(lock), project_page)
    print(f"Audited {len(result.audited)} pinned package(s) of {lock.name}.")
    for line in result.vulnerable + result.unaudited:
        print(f"  {line}")
    if result.vulnerable:
        print(f"{len(result.vulnerable)} known vulnerabilit(y/ies) in pinned packages.")
        return 1
    if result.unaudited:
        print(f"{len(result.unaudited)} pin(s) not audited: move them to the latest release.")
        return 1 if strict else 0
    print("No known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
