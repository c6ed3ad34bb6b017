"""``flower`` / ``python -m flower`` (flower.__main__): subcommands (``flower demo``) are found there, the rest is
the server's command line; the server's modules never import the demo."""

from __future__ import annotations

import subprocess
import sys

import pytest

import flower.__main__ as entry


def test_demo_is_a_subcommand_of_the_entry_not_of_the_server(capsys):
    with pytest.raises(SystemExit) as exited:
        entry.main(['demo', '--help'])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith('Usage: flower demo [demo options] [flower options]')


def test_anything_else_is_the_servers_command_line(capsys):
    with pytest.raises(SystemExit) as exited:
        entry.main(['--version'])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith('flower ')


def test_starting_the_server_imports_no_demo_module():
    code = (
        'import sys, flower.command, flower.app, flower.runtime; '
        "print(sorted(m for m in sys.modules if m.startswith('flower.demo')))"
    )
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'
