"""The layering in pyproject.toml ([tool.importlinter]) holds, covers every package, and
would catch a new upward import; and no function hides an import of the project's own
modules (the way a cycle is usually dodged)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[2]
CONFIG: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "importlinter"
]
PACKAGES: list[str] = CONFIG["root_packages"]
# Directories of Python that is not the server's: the agent runs on the hosts (its own
# Python, no Django), the rest are tools around the server.
NOT_SERVER = {"agent", "bench", "scripts", "tests", "node_modules", "build", "var", "docs"}


def _contract() -> LayersContract:
    [options] = CONFIG["contracts"]
    options = {k: v for k, v in options.items() if k not in ("id", "name", "type")}
    return LayersContract(
        name="layers", session_options={"root_packages": PACKAGES}, contract_options=options
    )


def _layer_modules() -> list[str]:
    [options] = CONFIG["contracts"]
    return [
        name.strip() for layer in options["layers"] for name in layer.replace(":", "|").split("|")
    ]


@pytest.fixture
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *PACKAGES,
        include_external_packages=False,
        exclude_type_checking_imports=True,
        cache_dir=None,
    )


def _broken(check: Any) -> list[str]:
    return [
        f"{chain['importer']} -> {chain['imported']}"
        for data in check.metadata["invalid_dependencies"]
        for route in data["routes"]
        for chain in route["chain"]
    ]


def test_apps_depend_downward_only(graph):
    check = _contract().check(graph, verbose=False)
    assert check.kept, _broken(check)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("hosts.models", "deployments.models"),  # an app importing one above it
        ("agent_link.session", "hosts.models"),  # the link importing an app
        ("deployments.models", "frontend.views"),  # a service importing a page
    ],
)
def test_an_upward_import_breaks_the_contract(graph, importer, imported):
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
    assert not _contract().check(graph, verbose=False).kept


def test_a_downward_import_keeps_it(graph):
    graph.add_import(
        importer="frontend.views", imported="agent_link.errors", line_number=1, line_contents=""
    )
    assert _contract().check(graph, verbose=False).kept


def test_every_server_package_and_berth_module_has_a_layer():
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_SERVER and not path.parent.name.startswith(".")
    }
    assert packages == set(PACKAGES)
    layered = _layer_modules()
    assert len(layered) == len(set(layered))
    berth_modules = {
        f"berth.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "berth").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert berth_modules <= set(layered), sorted(berth_modules - set(layered))
    assert set(PACKAGES) - {"berth"} <= set(layered)


def _function_level_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        # AppConfig.ready() is where Django has an app register itself with others.
        if node.name == "ready" and path.name == "apps.py":
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                names = [inner.module or ""]
                relative = inner.level > 0
            elif isinstance(inner, ast.Import):
                names, relative = [alias.name for alias in inner.names], False
            else:
                continue
            if relative or any(name.split(".")[0] in PACKAGES for name in names):
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno} ({node.name})")
    return found


def test_no_function_imports_the_project_s_own_modules():
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for hit in _function_level_imports(path)
    ]
    assert found == []
