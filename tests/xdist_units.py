"""How scripts/test spreads the tests over its pytest-xdist workers.

A module- or session-scoped fixture runs once in every worker that runs one
of the tests using it. Where a test module defines such a fixture itself
(a sandbox's builds that all its tests then look at), spreading its tests
over the workers repeats those builds in each of them. So such a module is
one unit of work, run by one worker; every other test is a unit of its own,
handed to whichever worker runs low first, the largest units first.

pytest-xdist's own ``loadgroup`` would do this from ``xdist_group`` marks, but
it tags the marked tests' node ids through an attribute pytest 9.2 no longer
reads, so the marks have no effect; and the controller that schedules never
sees marks or fixtures, only node ids. The rule is therefore read from the
test modules' source here: a fixture decorator with ``scope="module"`` or
``scope="session"`` in the module itself.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

SHARED_SCOPES = frozenset({"module", "session"})


def shares_its_own_fixture(source: str) -> bool:
    """Whether a test module's source defines a module- or session-scoped fixture."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and _is_fixture(decorator.func):
                for keyword in decorator.keywords:
                    if (
                        keyword.arg == "scope"
                        and isinstance(keyword.value, ast.Constant)
                        and keyword.value.value in SHARED_SCOPES
                    ):
                        return True
    return False


def _is_fixture(func: ast.expr) -> bool:
    """``pytest.fixture`` or a bare ``fixture`` imported from pytest."""
    if isinstance(func, ast.Attribute):
        return func.attr == "fixture"
    return isinstance(func, ast.Name) and func.id == "fixture"


class WorkUnits:
    """The unit of work of a node id: its module when that is kept whole, else itself."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._whole: dict[str, bool] = {}

    def module_is_whole(self, module: str) -> bool:
        whole = self._whole.get(module)
        if whole is None:
            path = self.root / module
            whole = path.suffix == ".py" and path.is_file()
            whole = whole and shares_its_own_fixture(path.read_text(encoding="utf-8"))
            self._whole[module] = whole
        return whole

    def __call__(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if self.module_is_whole(module) else nodeid


def make_scheduler(config: Any, log: Any) -> Any:
    """pytest-xdist's load scheduling with the modules that share their own fixtures kept whole.

    xdist is imported only here, in a run that uses it: the rule above is
    tested (and the RPM's %check runs the tests) without it.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnitScheduling(LoadScopeScheduling):
        def __init__(self) -> None:
            super().__init__(config, log)
            self._unit_of = WorkUnits(Path(config.rootpath))

        def _split_scope(self, nodeid: str) -> str:
            return self._unit_of(nodeid)

    return ModuleUnitScheduling()
