"""scripts/test's units of work: a module sharing its own fixture stays on one worker."""

from __future__ import annotations

from tests.xdist_units import WorkUnits, shares_its_own_fixture

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
