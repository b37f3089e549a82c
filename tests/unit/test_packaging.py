"""What an install gets: declared dependencies for every import, a lock that holds them,
the runtime files, and the versions the Faust patches were written for. The wheel itself
is installed and run in tests/integration/test_wheel_install.py."""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cxone_router.agents.versions import PATCHED, check_patched_versions
from cxone_router.errors import ConfigurationError
from cxone_router.extras import OPTIONAL, missing_extra
from cxone_router.settings import REPO_ROOT, load_settings

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
EXTRAS = {extra: [Requirement(r) for r in requirements]
          for extra, requirements in PROJECT["optional-dependencies"].items()}


def names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def locked(path: Path) -> dict[str, str]:
    """name -> version of a requirements file `make lock` wrote (every one with hashes)."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", path.read_text(), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def third_party_imports() -> dict[str, str]:
    """Top-level module -> a file of pipeline/ or agents/ that imports it."""
    found: dict[str, str] = {}
    for path in sorted([*REPO_ROOT.glob("pipeline/**/*.py"), *REPO_ROOT.glob("agents/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in (m.partition(".")[0] for m in modules):
                if module not in sys.stdlib_module_names and module != "cxone_router":
                    found.setdefault(module, str(path.relative_to(REPO_ROOT)))
    return found


def test_every_import_is_a_declared_dependency_and_optional_ones_are_extras() -> None:
    """pydantic was imported and never declared: an install worked only because something
    else happened to pull it in."""
    distributions = packages_distributions()
    problems = []
    for module, where in third_party_imports().items():
        provided = {canonicalize_name(d) for d in distributions.get(module, [])}
        if module in OPTIONAL:
            extra = OPTIONAL[module][1]
            declared, how = names(EXTRAS[extra]), f"the extra {extra!r}"
        else:
            declared, how = names(RUNTIME), "a runtime dependency"
        if not provided & declared:
            problems.append(f"{module} ({where}, from {sorted(provided)}) is not {how}")
    assert not problems, problems


def test_production_installs_no_optional_part() -> None:
    distributions = packages_distributions()
    optional = {canonicalize_name(d) for module in OPTIONAL for d in distributions[module]}
    assert optional and not optional & names(RUNTIME)
    assert not optional & set(locked(REPO_ROOT / "requirements" / "runtime.txt"))


def test_the_locks_hold_every_requirement_at_one_version() -> None:
    """requirements/dev.txt (make test, CI) holds the runtime dependencies and every extra;
    requirements/runtime.txt (the image) the runtime ones at the same versions."""
    dev = locked(REPO_ROOT / "requirements" / "dev.txt")
    runtime = locked(REPO_ROOT / "requirements" / "runtime.txt")
    problems = [f"{lock}: {r} is {pins.get(canonicalize_name(r.name), 'missing')}"
                for lock, pins, requirements in [
                    ("dev.txt", dev, RUNTIME + [r for rs in EXTRAS.values() for r in rs]),
                    ("runtime.txt", runtime, RUNTIME)]
                for r in requirements
                if not r.specifier.contains(pins.get(canonicalize_name(r.name), "0"),
                                            prereleases=True)]
    assert not problems, f"{problems}: run `make lock`"
    assert {name: dev.get(name) for name in runtime} == runtime


def test_code_that_reaches_into_a_package_pins_it_exactly() -> None:
    exact = {canonicalize_name(r.name): str(r.specifier).removeprefix("==") for r in RUNTIME
             if str(r.specifier).startswith("==")}
    assert {canonicalize_name(name): v for name, v in PATCHED.items()}.items() <= exact.items()
    assert {"uvicorn", "jsonpath-ng"} <= exact.keys()  # HttpToolsProtocol, the parse tree


def test_a_worker_refuses_faust_versions_its_patches_were_not_written_for() -> None:
    check_patched_versions()  # this install: the pinned ones
    newer = {**PATCHED, "faust-streaming": "0.16.0"}
    with pytest.raises(ConfigurationError, match=r"faust-streaming 0\.16\.0 is installed, "
                                                 r"the patches are for 0\.15\.3"):
        check_patched_versions(newer.__getitem__)


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_a_missing_optional_part_names_the_extra_to_install(module: str) -> None:
    what, extra = OPTIONAL[module]
    missing = ModuleNotFoundError(f"No module named '{module}'", name=f"{module}.sub")
    assert missing_extra(missing) == (
        f"{what} is not installed: pip install 'cxone-router[{extra}]'")
    assert missing_extra(ModuleNotFoundError("No module named 'x'", name="x")) is None


def test_the_runtime_files_are_found_without_configuration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXR_SCHEMAS_DIR", raising=False)
    schemas = load_settings().schemas_dir
    assert (schemas / "mappings" / "common.json").is_file() and (schemas / "slos.json").is_file()


def test_cxr_schemas_dir_overrides_them_and_a_folder_without_them_is_named(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own = shutil.copytree(REPO_ROOT / "schemas", tmp_path / "own")
    monkeypatch.setenv("CXR_SCHEMAS_DIR", str(own))
    assert load_settings().schemas_dir == own
    (own / "slos.json").unlink()
    with pytest.raises(ConfigurationError, match=rf"CXR_SCHEMAS_DIR: {own} has no slos\.json"):
        load_settings()


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by their import names (pipeline/ is `cxone_router`,
    agents/ `cxone_router.agents`): a new folder left out would be missing once installed."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    folders = {("cxone_router", "pipeline"), ("cxone_router.agents", "agents")}
    wanted = {"cxone_router.schemas"}
    for name, folder in folders:
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO_ROOT / folder).parts
            wanted.add(".".join((name, *parts)))
    assert listed == wanted
