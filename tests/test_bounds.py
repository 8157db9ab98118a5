"""The shared bounds (koji_containerbuild/bounds.py): priority range, names, quoting, depth."""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.bounds import (
    INT32_MAX,
    INT32_MIN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    name_problem,
    nesting_depth_exceeds,
    priority_problem,
    quote,
)


@pytest.mark.parametrize("priority", [None, 0, 5, -3, PRIORITY_MIN, PRIORITY_MAX])
def test_priorities_koji_can_store_are_accepted(priority):
    assert priority_problem(priority) is None


def test_priority_range_is_what_a_32_bit_task_priority_holds():
    assert (PRIORITY_MIN + koji.PRIO_DEFAULT, PRIORITY_MAX + koji.PRIO_DEFAULT) == (
        INT32_MIN,
        INT32_MAX,
    )


@pytest.mark.parametrize("priority", [PRIORITY_MAX + 1, PRIORITY_MIN - 1, 10**10, 2**63])
def test_priority_out_of_32_bits_is_refused(priority):
    assert "is out of range: Koji stores task priorities as 32-bit integers" in (
        priority_problem(priority)
    )


@pytest.mark.parametrize("priority", [True, 1.5, "5"])
def test_priority_that_is_no_integer_is_refused(priority):
    assert priority_problem(priority).startswith("The priority must be an integer such as 5")


def test_name_problem_accepts_a_plain_name():
    assert name_problem("target", "build target", "f40-container-candidate", "fix") is None


def test_name_with_a_control_character_is_refused():
    problem = name_problem("channel", "channel", "con\x1btainer", "fix it")
    assert problem == "The channel 'con\\x1btainer' contains non-printable characters: fix it."


def test_quote_cuts_a_long_string_and_says_its_length():
    assert quote("x" * 1000) == repr("x" * 60) + "... (1000 characters)"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"a": {"b": 1}}, "a struct of 1 key"),
        ([1, 2, 3], "a list of 3 items"),
        (2**1000, "an integer of 1001 bits"),
        ("\x1b[2J", "'\\x1b[2J'"),
    ],
)
def test_quote_never_renders_containers_or_huge_integers(value, shown):
    assert quote(value) == shown


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_at_the_limit_passes():
    assert nesting_depth_exceeds(_nested(32), 32) is False


def test_nesting_past_the_recursion_limit_is_measured_without_recursion():
    assert nesting_depth_exceeds(_nested(100000), 32) is True
