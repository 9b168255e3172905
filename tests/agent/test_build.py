"""The zipapp build: reproducible, self-contained, Python 3.9 compatible."""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.agent.helpers import BUILD_SCRIPT, PYTHON, REPO


def _build(out: Path) -> str:
    subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(out)], check=True)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_two_builds_of_the_same_tree_are_byte_identical(tmp_path: Path) -> None:
    assert _build(tmp_path / "a.pyz") == _build(tmp_path / "b" / "again.pyz")


def test_the_pyz_has_a_shebang_fixed_timestamps_and_no_bytecode(agent_pyz: Path) -> None:
    assert agent_pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(agent_pyz) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "__main__.py" in names and "berth_agent/server.py" in names
    assert "docker/api/client.py" in names and "requests/__init__.py" in names
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}


def test_the_pyz_runs_from_any_directory_without_site_packages(
    agent_pyz: Path, tmp_path: Path
) -> None:
    code = "import docker, requests, berth_agent; print(docker.__file__)"
    r = subprocess.run(
        [PYTHON, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(agent_pyz)!r}); {code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert r.stdout.startswith(str(agent_pyz))


def test_the_agent_code_parses_as_python_3_9() -> None:
    for path in (REPO / "agent" / "berth_agent").rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
