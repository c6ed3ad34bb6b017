"""The browser libraries in flower/static/vendor/ are the npm registry's released files, unchanged: each file's
sha256 is the one recorded when scripts/vendor-assets.sh copied it from the release tarball (whose registry
integrity VERSIONS.txt records), no file is there unrecorded, and the versions are the script's pins."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / 'flower' / 'static' / 'vendor'
SCRIPT = ROOT / 'scripts' / 'vendor-assets.sh'


def recorded() -> dict[str, str]:
    sums = {}
    for line in (VENDOR / 'SHA256SUMS').read_text().splitlines():
        digest, name = line.split(None, 1)
        sums[name.strip()] = digest
    return sums


def present() -> set[str]:
    return {
        path.relative_to(VENDOR).as_posix()
        for path in VENDOR.rglob('*')
        if path.is_file() and path.name != 'SHA256SUMS'
    }


def test_every_vendored_file_is_recorded_and_nothing_recorded_is_missing():
    assert present() == set(recorded())


@pytest.mark.parametrize('name', sorted(recorded()))
def test_each_file_has_its_recorded_sha256(name):
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == recorded()[name], (
        f'{name} differs from the released file it was copied from: run scripts/vendor-assets.sh, do not edit it'
    )


def test_the_versions_are_the_scripts_pins_with_the_registrys_integrity():
    pins = dict(re.findall(r'^([A-Z]+)=(\S+)', SCRIPT.read_text(), re.M))
    packages = {}
    for line in (VENDOR / 'VERSIONS.txt').read_text().splitlines():
        if line and not line.startswith('#'):
            name, version, integrity = line.split()
            assert re.fullmatch(r'sha512-[A-Za-z0-9+/]{86}==', integrity), line
            packages[name] = version
    assert packages == {
        'bootstrap': pins['BOOTSTRAP'],
        'jquery': pins['JQUERY'],
        'datatables.net': pins['DATATABLES'],
        'datatables.net-bs5': pins['DATATABLES'],
    }


def test_each_library_ships_its_licence():
    for folder in ('bootstrap', 'jquery', 'datatables'):
        assert any(path.name.lower().startswith('licen') for path in (VENDOR / folder).iterdir()), folder
