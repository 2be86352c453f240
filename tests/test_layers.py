"""The layers, read from the code's own imports, so a wrong import fails CI instead of waiting for a
review to notice it. Arrows point one way: `kipthoi → api, web, flows → states → notifications →
models` (design.md). Every module of the source packages is parsed, imports inside functions and
under `if TYPE_CHECKING:` included (a deferred import is still a dependency), relative imports
resolved.

The rules, per package (imports of a package's own modules are always fine):
- `models` imports none of the others.
- `notifications` imports only `models`: it receives events, it never decides states.
- `states` imports `notifications` and `models`.
- `flows` imports `states`, `notifications`, `models`. One exception, kept as narrow as it is:
  a Prefect deployment entrypoint (a module named as `entrypoint:` in prefect.yaml) may import
  `kipthoi.wiring`, since the worker that runs it has no caller to hand it a runtime.
- `api` imports `states`, `notifications`, `models`; never `web`, `flows` or `kipthoi`.
- `web` imports the same, plus `api`'s shared HTTP plumbing but never `api.routers` (design.md:
  pages use what both can use, not the API's handlers); never `flows` or `kipthoi`. Today `web`
  imports nothing of ours, and `api` does not import `web`.
- `kipthoi`, the composition root, may import any of them.
- No source package imports `tests`, `bench` or `migrations`.
Migrations importing no application code is tested in test_migrations_and_durability.py."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kipthoi", "api", "web", "flows", "states", "notifications", "models")
OURS = frozenset({*PACKAGES, "migrations", "bench", "tests"})

MAY_IMPORT: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "notifications": frozenset({"models"}),
    "states": frozenset({"notifications", "models"}),
    "flows": frozenset({"states", "notifications", "models"}),
    "api": frozenset({"states", "notifications", "models"}),
    "web": frozenset({"api", "states", "notifications", "models"}),
    "kipthoi": frozenset({"api", "web", "flows", "states", "notifications", "models"}),
}
# Finer than a package: modules a package may not import although it may import their package.
NEVER: dict[str, tuple[str, ...]] = {"web": ("api.routers",)}
ENTRYPOINT_MAY_IMPORT = ("kipthoi.wiring",)


def imported_names(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module imports. `from a import b` yields `a.b`, so that
    `from api import routers` is seen as importing `api.routers`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = node.level - 1
                if up > len(package):
                    yield node.lineno, "<relative import above the top-level package>"
                    continue
                base = ".".join([*package[:len(package) - up], *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}".strip(".")


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(source: str, module: str, is_package: bool = False,
               entrypoint: bool = False) -> list[str]:
    """The imports of one module that break the layer rules, as `module:line imports name`."""
    own = module.split(".")[0]
    found = []
    for line, name in imported_names(source, module, is_package):
        top = name.split(".")[0]
        if name.startswith("<"):
            found.append(f"{module}:{line} has a {name[1:-1]}")
            continue
        if top not in OURS or top == own:
            continue
        exempt = entrypoint and any(_within(name, allowed) for allowed in ENTRYPOINT_MAY_IMPORT)
        wrong = top not in MAY_IMPORT[own] or any(_within(name, never) for never in NEVER.get(own, ()))
        if wrong and not exempt:
            found.append(f"{module}:{line} imports {name}")
    return found


def prefect_entrypoints() -> frozenset[str]:
    """Modules that prefect.yaml names as deployment entrypoints (`flows/x.py:fn` → `flows.x`)."""
    text = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    return frozenset(path.replace("/", ".") for path in re.findall(r"entrypoint:\s*(\S+)\.py:", text))


def source_modules() -> Iterator[tuple[str, bool, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_package else parts)
            yield module, is_package, path.read_text(encoding="utf-8")


def test_every_module_keeps_to_its_layer() -> None:
    entrypoints = prefect_entrypoints()
    found = [v for module, is_package, source in source_modules()
             for v in violations(source, module, is_package, entrypoint=module in entrypoints)]
    assert found == [], "imports against the layers (see this file's docstring):\n" + "\n".join(found)


def test_the_walk_reads_every_package_and_sees_real_imports() -> None:
    """Guards against a test that passes because it read nothing: every package was found, and the
    known arrows of the tree are among the imports it parsed."""
    modules = list(source_modules())
    assert {m.split(".")[0] for m, _, _ in modules} == set(PACKAGES)
    arrows = {(m.split(".")[0], name.split(".")[0]) for m, is_package, source in modules
              for _, name in imported_names(source, m, is_package)}
    assert {("kipthoi", "api"), ("api", "states"), ("flows", "states"), ("states", "notifications"),
            ("notifications", "models")} <= arrows
    assert {"flows.deadline_sweep", "flows.dispatch_notifications"} <= prefect_entrypoints()


@pytest.mark.parametrize(("module", "source"), [
    ("notifications.routing", "from states.lifecycle.workflow import advance"),
    ("models.db", "def settings():\n    import kipthoi.settings\n    return kipthoi.settings"),
    ("states.intake.opening", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.deps import Runtime"),
    ("states.intake.opening", "import flows.jobs"),
    ("api.routers.cases", "from ...web import pages"),
    ("api.deps", "from kipthoi.wiring import build_runtime"),
    ("web.pages", "from api import routers"),
    ("web.pages", "from api.routers.cases import router"),
    ("flows.jobs", "from kipthoi.wiring import build_jobs"),
    ("models.db", "from tests.conftest import Commune"),
    ("states.intake.opening", "from .... import models"),
])
def test_a_wrong_import_is_reported(module: str, source: str) -> None:
    assert violations(source, module)


@pytest.mark.parametrize(("module", "source", "entrypoint"), [
    ("states.intake.opening",
     "from notifications.outbox import notify\nfrom models import Case\nfrom . import matching", False),
    ("api.routers.cases", "from ..deps import current_actor\nfrom notifications.tokens import sign", False),
    ("web.pages", "from api.deps import current_actor\nfrom states.cases.queries import worklist", False),
    ("kipthoi.cli", "def f():\n    from flows.jobs import run_sweep\n    from web import pages", False),
    ("flows.deadline_sweep", "def f():\n    from kipthoi.wiring import build_jobs", True),
    ("models.db", "import sqlalchemy\nfrom sqlmodel import Session", False),
])
def test_an_allowed_import_is_not_reported(module: str, source: str, entrypoint: bool) -> None:
    assert violations(source, module, entrypoint=entrypoint) == []


def test_an_entrypoint_may_import_the_wiring_and_nothing_else_of_the_root() -> None:
    assert violations("from kipthoi.settings import Settings", "flows.deadline_sweep", entrypoint=True)
