"""`make audit` (.ci/audit.py) fails the build on a known vulnerability of a pinned package;
a pin it could not audit is listed, and fails the build only with --strict. Decided here on
recorded answers, without the network."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

ADVISORY = {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-1"], "fixed_in": ["2.0"]}
SKIPPED = "Dependency not found on PyPI and could not be audited"


def pages(**latest) -> callable:
    """A stand-in for PyPI's project pages: name -> (latest version, its vulnerabilities)."""

    def page(name: str) -> dict:
        if name not in latest:
            raise OSError("unreachable")
        version, vulns = latest[name]
        return {"info": {"version": version}, "vulnerabilities": vulns}

    return page


def test_a_clean_audit_passes():
    report = [{"name": "Flask", "version": "3.1.3", "vulns": []}]
    result = audit.verdict({"flask": "3.1.3"}, report, pages())
    assert (result.vulnerable, result.unaudited, len(result.audited)) == ([], [], 1)


def test_a_vulnerability_pip_audit_finds_fails():
    vuln = {"id": "GHSA-x", "aliases": ["CVE-2026-1"], "fix_versions": ["3.1.4"]}
    report = [{"name": "flask", "version": "3.1.3", "vulns": [vuln]}]
    result = audit.verdict({"flask": "3.1.3"}, report, pages())
    assert result.vulnerable == ["flask 3.1.3: GHSA-x, CVE-2026-1 (fixed in 3.1.4)"]


def test_a_skipped_pin_is_audited_from_its_project_page_when_it_is_the_latest():
    report = [{"name": "ecdsa", "skip_reason": SKIPPED}, {"name": "idna", "skip_reason": SKIPPED}]
    twice = [ADVISORY, {"id": "CVE-2026-1", "aliases": ["PYSEC-2026-1"], "fixed_in": ["2.0"]}]
    result = audit.verdict(
        {"ecdsa": "1.0", "idna": "3.20"},
        report,
        pages(ecdsa=("1.0", twice), idna=("3.20", [])),
    )
    # One advisory listed under two databases' ids is one problem.
    assert result.vulnerable == ["ecdsa 1.0: PYSEC-2026-1, CVE-2026-1 (fixed in 2.0)"]
    assert len(result.audited) == 2


@pytest.mark.parametrize(
    "latest",
    [{"click": ("8.5.1", [])}, {}],  # an older pin; the page unreachable
)
def test_a_pin_audited_neither_way_is_listed_not_passed_as_clean(latest):
    report = [{"name": "click", "skip_reason": SKIPPED}]
    result = audit.verdict({"click": "8.0.0"}, report, pages(**latest))
    assert len(result.unaudited) == 1 and "click 8.0.0: not audited" in result.unaudited[0]
    assert (result.vulnerable, result.audited) == ([], [])


def test_a_withdrawn_advisory_does_not_count():
    report = [{"name": "ecdsa", "skip_reason": SKIPPED}]
    withdrawn = {**ADVISORY, "withdrawn": "2026-01-01T00:00:00Z"}
    result = audit.verdict({"ecdsa": "1.0"}, report, pages(ecdsa=("1.0", [withdrawn])))
    assert result.vulnerable == []


def test_the_lock_is_read_whole():
    pinned = audit.pins(ROOT / "requirements.lock")
    assert pinned["flask"] and pinned["psycopg-binary"] and len(pinned) > 20


@pytest.mark.parametrize(("strict", "code"), [(False, 0), (True, 1)])
def test_unaudited_pins_fail_the_build_only_when_strict(monkeypatch, capsys, strict, code):
    report = [{"name": "click", "skip_reason": SKIPPED}]
    monkeypatch.setattr(audit, "pip_audit", lambda lock: report)
    monkeypatch.setattr(audit, "pins", lambda lock: {"click": "8.0.0"})
    monkeypatch.setattr(audit, "project_page", pages(click=("8.5.1", [])))
    monkeypatch.setattr(audit.sys, "argv", ["audit.py", *(["--strict"] if strict else [])])
    assert audit.main() == code
    assert "click 8.0.0: not audited" in capsys.readouterr().out


def test_a_vulnerability_fails_the_build(monkeypatch):
    monkeypatch.setattr(
        audit, "pip_audit", lambda lock: [{"name": "ecdsa", "skip_reason": SKIPPED}]
    )
    monkeypatch.setattr(audit, "pins", lambda lock: {"ecdsa": "1.0"})
    monkeypatch.setattr(audit, "project_page", pages(ecdsa=("1.0", [ADVISORY])))
    monkeypatch.setattr(audit.sys, "argv", ["audit.py"])
    assert audit.main() == 1
