"""scripts/test's units of work: a module sharing its own fixture stays on one worker."""

from __future__ import annotations

from tests.xdist_units import SPREAD_OVER, WorkUnits, shares_its_own_fixture, spread_builds

SHARED = """
import pytest

@pytest.fixture(scope="module")
def built(sandbox):
    return sandbox.build()
"""

PER_TEST = """
import pytest

@pytest.fixture
def built(sandbox):
    return sandbox.build()
"""


def test_module_scoped_fixture_makes_the_module_one_unit():
    assert shares_its_own_fixture(SHARED)


def test_session_scoped_fixture_imported_bare_makes_the_module_one_unit():
    source = 'from pytest import fixture\n\n@fixture(scope="session")\ndef box():\n    pass\n'
    assert shares_its_own_fixture(source)


def test_function_scoped_fixture_leaves_the_tests_apart():
    assert not shares_its_own_fixture(PER_TEST)


def test_tests_of_a_sharing_module_are_one_unit(repo_root):
    # test_e2e_tags.py builds once (three_builds) for all its tests
    unit_of = WorkUnits(repo_root)
    module = "tests/e2e/test_e2e_tags.py"
    assert {unit_of(f"{module}::test_{name}") for name in ("a", "b[x]")} == {module}


def test_every_other_test_is_a_unit_of_its_own(repo_root):
    unit_of = WorkUnits(repo_root)
    nodeids = ["tests/test_cancel.py::test_a", "tests/test_cancel.py::test_b[x]"]
    assert [unit_of(nodeid) for nodeid in nodeids] == nodeids


def fake_suite(root, modules: dict[str, str]) -> WorkUnits:
    for module, source in modules.items():
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        (root / module).write_text(source)
    return WorkUnits(root)


def suite_nodeids(e2e_tests: int, unit_tests: int, whole_tests: int = 0) -> list[str]:
    whole = [f"tests/e2e/test_whole.py::test_{i}" for i in range(whole_tests)]
    e2e = [f"tests/e2e/test_builds.py::test_{i}" for i in range(e2e_tests)]
    units = [f"tests/test_unit.py::test_{i}" for i in range(unit_tests)]
    return whole + e2e + units


def test_end_to_end_tests_go_evenly_between_the_unit_tests(tmp_path):
    unit_of = fake_suite(tmp_path, {"tests/e2e/test_builds.py": PER_TEST})
    order = spread_builds(suite_nodeids(4, 100), unit_of)
    places = [i for i, nodeid in enumerate(order) if "test_builds" in nodeid]
    assert places == [0, 21, 42, 63]


def test_the_last_unit_tests_run_after_every_end_to_end_test(tmp_path):
    unit_of = fake_suite(tmp_path, {"tests/e2e/test_builds.py": PER_TEST})
    order = spread_builds(suite_nodeids(30, 100), unit_of)
    last_build = max(i for i, nodeid in enumerate(order) if "test_builds" in nodeid)
    assert len(order) - 1 - last_build >= 100 * (1 - SPREAD_OVER)


def test_spreading_keeps_every_test_once(tmp_path):
    unit_of = fake_suite(tmp_path, {"tests/e2e/test_builds.py": PER_TEST})
    nodeids = suite_nodeids(7, 50)
    assert sorted(spread_builds(nodeids, unit_of)) == sorted(nodeids)


def test_a_module_kept_whole_stays_together(tmp_path):
    unit_of = fake_suite(
        tmp_path, {"tests/e2e/test_whole.py": SHARED, "tests/e2e/test_builds.py": PER_TEST}
    )
    order = spread_builds(suite_nodeids(10, 20, whole_tests=6), unit_of)
    places = [i for i, nodeid in enumerate(order) if "test_whole" in nodeid]
    assert places == list(range(places[0], places[0] + 6))
