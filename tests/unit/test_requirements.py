"""requirements.lock, which production installs with --require-hashes, carries every pin of
requirements.txt at the same version: the two files cannot drift apart."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (extras dropped, comments skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonical(match["name"])] = match["version"]
    return found


def locked_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each entry of a pip-compile lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        match = PIN.match(line)  # an entry starts at the line's first column
        if match:
            current = canonical(match["name"])
            entries[current] = (match["version"], [])
        elif stripped.startswith("--hash=") and current is not None:
            entries[current][1].append(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif not stripped.startswith("#"):
            current = None
    return entries


def test_the_runtime_pins_are_exact():
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines, "requirements.txt names no package"
    assert [line for line in lines if not PIN.match(line)] == []


def test_the_lock_pins_every_requirement_at_its_version():
    wanted = pins(ROOT / "requirements.txt")
    locked = {
        name: version for name, (version, _h) in locked_entries(ROOT / "requirements.lock").items()
    }
    drifted = {
        name: (version, locked.get(name, "missing"))
        for name, version in wanted.items()
        if locked.get(name) != version
    }
    # Regenerate the lock as README.md says ("Production", the lock) after editing the pins.
    assert drifted == {}, "requirements.txt pin -> (its version, the lock's)"


def test_every_locked_package_has_a_hash():
    entries = locked_entries(ROOT / "requirements.lock")
    assert entries
    unhashed = [name for name, (_v, hashes) in entries.items() if not hashes]
    assert unhashed == []
    assert all(h.startswith("sha256:") for _v, hashes in entries.values() for h in hashes)


def test_the_dev_set_builds_on_the_runtime_set():
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
    # A package pinned in both files could be pinned twice at different versions.
    assert set(pins(ROOT / "requirements-dev.txt")) & set(pins(ROOT / "requirements.txt")) == set()
