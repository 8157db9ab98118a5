"""Table-driven tests of the source container options (buildSourceContainer)."""

import pytest

from koji_containerbuild.options import OptionsError, normalize_source_opts

VALID_SOURCE = [
    ("by id", {"koji_build_id": 42}, {"koji_build_id": 42}),
    ("by NVR", {"koji_build_nvr": "app-1.0-1"}, {"koji_build_nvr": "app-1.0-1"}),
    (
        "every key, unset ones None or False",
        {
            "scratch": False,
            "koji_build_id": None,
            "koji_build_nvr": "app-1.0-1",
            "signing_intent": None,
            "userdata": None,
        },
        {"koji_build_nvr": "app-1.0-1"},
    ),
    (
        "everything set",
        {
            "scratch": True,
            "koji_build_id": 42,
            "koji_build_nvr": "app-1.0-1",
            "signing_intent": "beta",
            "userdata": '{"a": 1}',
        },
        {
            "scratch": True,
            "koji_build_id": 42,
            "koji_build_nvr": "app-1.0-1",
            "signing_intent": "beta",
            "userdata": {"a": 1},
        },
    ),
]


@pytest.mark.parametrize(
    ("opts", "expected"), [c[1:] for c in VALID_SOURCE], ids=[c[0] for c in VALID_SOURCE]
)
def test_valid_source_opts_are_normalised(opts, expected):
    assert normalize_source_opts(opts) == expected


INVALID_SOURCE = [
    ("nothing", None, "Options 'koji_build_id' and 'koji_build_nvr' are both missing"),
    (
        "both None",
        {"koji_build_id": None, "koji_build_nvr": None},
        "Options 'koji_build_id' and 'koji_build_nvr' are both missing",
    ),
    (
        "id as a string",
        {"koji_build_id": "42"},
        "Option 'koji_build_id' (koji: --koji-build-id) must be the id",
    ),
    (
        "id negative",
        {"koji_build_id": -1},
        "Option 'koji_build_id' (koji: --koji-build-id) must be the id",
    ),
    ("id boolean", {"koji_build_id": True}, "got the boolean true"),
    (
        "empty NVR",
        {"koji_build_nvr": ""},
        "Option 'koji_build_nvr' (koji: --koji-build-nvr) must be the NVR",
    ),
    (
        "binary build option",
        {"koji_build_id": 1, "git_branch": "m"},
        "Option 'git_branch' is not known",
    ),
    (
        "userdata a list",
        {"koji_build_id": 1, "userdata": "[]"},
        "Option 'userdata' (koji: --userdata) must be",
    ),
]


@pytest.mark.parametrize(
    ("opts", "expected"), [c[1:] for c in INVALID_SOURCE], ids=[c[0] for c in INVALID_SOURCE]
)
def test_invalid_source_opts_are_refused_with_a_sentence(opts, expected):
    with pytest.raises(OptionsError) as caught:
        normalize_source_opts(opts)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert expected in caught.value.problems[0]
