"""Table-driven tests of the shared option schemas: build options (fedpkg's too).

Source container options are in test_options_source.py, release values in
test_options_release.py.
"""

import json

import pytest

from koji_containerbuild.options import (
    BUILD_OPTIONS,
    SOURCE_OPTIONS,
    USERDATA_MAX_BYTES,
    OptionsError,
    normalize_build_opts,
)
from tests.rpkg_opts import fedpkg_flatpak_opts, fedpkg_opts

VALID_BUILD = [
    ("fedpkg container-build", fedpkg_opts(), {"git_branch": "rawhide"}),
    (
        "fedpkg flatpak-build",
        fedpkg_flatpak_opts(),
        {"git_branch": "rawhide", "flatpak": True},
    ),
    (
        "fedpkg container-build --scratch --arches x86_64 aarch64",
        fedpkg_opts(scratch=True, arch_override="x86_64 aarch64"),
        {"git_branch": "rawhide", "scratch": True, "arch_override": "x86_64 aarch64"},
    ),
    (
        "fedpkg container-build --isolated --build-release 5.1",
        fedpkg_opts(isolated=True, release="5.1"),
        {"git_branch": "rawhide", "isolated": True, "release": "5.1"},
    ),
    (
        "fedpkg container-build with repo URLs, composes and replacements",
        fedpkg_opts(
            yum_repourls=["https://example.com/a.repo", "http://example.com/b.repo"],
            compose_ids=[12, 34],
            dependency_replacements=["gomod:example.com/x:v1.2"],
            koji_parent_build="base-image-1.0-3",
        ),
        {
            "git_branch": "rawhide",
            "yum_repourls": ["https://example.com/a.repo", "http://example.com/b.repo"],
            "compose_ids": [12, 34],
            "dependency_replacements": ["gomod:example.com/x:v1.2"],
            "koji_parent_build": "base-image-1.0-3",
        },
    ),
    (
        "fedpkg container-build --signing-intent",
        fedpkg_opts(signing_intent="release"),
        {"git_branch": "rawhide", "signing_intent": "release"},
    ),
    (
        "arch_override as a comma list with duplicates",
        {
            "git_branch": "main",
            "isolated": True,
            "release": "1.1",
            "arch_override": "x86_64,s390x x86_64",
        },
        {
            "git_branch": "main",
            "isolated": True,
            "release": "1.1",
            "arch_override": "x86_64 s390x",
        },
    ),
    (
        "arch_override as a list",
        {"git_branch": "main", "scratch": True, "arch_override": ["ppc64le", "x86_64"]},
        {"git_branch": "main", "scratch": True, "arch_override": "ppc64le x86_64"},
    ),
    (
        "empty arch_override and empty lists are dropped",
        {"git_branch": "main", "arch_override": "", "yum_repourls": [], "compose_ids": []},
        {"git_branch": "main"},
    ),
    (
        "userdata as a dict",
        {"git_branch": "main", "userdata": {"ci": {"job": 7}}},
        {"git_branch": "main", "userdata": {"ci": {"job": 7}}},
    ),
    (
        "userdata as JSON text from a command line",
        {"git_branch": "main", "userdata": '{"ci": "yes"}'},
        {"git_branch": "main", "userdata": {"ci": "yes"}},
    ),
    (
        "userdata of exactly 64 KiB as JSON",
        {"git_branch": "main", "userdata": {"blob": "x" * (USERDATA_MAX_BYTES - 11)}},
        {"git_branch": "main", "userdata": {"blob": "x" * (USERDATA_MAX_BYTES - 11)}},
    ),
    (
        "operator CSV modifications for an isolated build",
        {
            "git_branch": "main",
            "isolated": True,
            "release": "2.1.el9_1",
            "operator_csv_modifications_url": "https://example.com/mods.json",
        },
        {
            "git_branch": "main",
            "isolated": True,
            "release": "2.1.el9_1",
            "operator_csv_modifications_url": "https://example.com/mods.json",
        },
    ),
    (
        "release with every allowed kind of character",
        {"git_branch": "main", "release": "1.fc40_git2.A"},
        {"git_branch": "main", "release": "1.fc40_git2.A"},
    ),
]


@pytest.mark.parametrize(
    ("opts", "expected"), [c[1:] for c in VALID_BUILD], ids=[c[0] for c in VALID_BUILD]
)
def test_valid_build_opts_are_normalised(opts, expected):
    assert normalize_build_opts(opts) == expected


def test_normalising_does_not_change_the_callers_dict():
    opts = fedpkg_opts(scratch=True, arch_override="x86_64")
    before = dict(opts)
    normalize_build_opts(opts)
    assert opts == before


def test_normal_form_is_stable():
    once = normalize_build_opts(fedpkg_opts(scratch=True, arch_override="x86_64, aarch64"))
    assert normalize_build_opts(once) == once


INVALID_BUILD = [
    ("no opts at all", None, ["Option 'git_branch' (koji: --git-branch) is required"]),
    (
        "git_branch None",
        fedpkg_opts(git_branch=None),
        ["Option 'git_branch' (koji: --git-branch) is required"],
    ),
    (
        "empty git_branch",
        {"git_branch": ""},
        ["Option 'git_branch' (koji: --git-branch) must be", "empty string"],
    ),
    (
        "unknown key with a close name",
        {"git_branch": "m", "scrach": True},
        ["Option 'scrach' is not known", "did you mean 'scratch'?"],
    ),
    (
        "unknown key",
        {"git_branch": "m", "priority": 3},
        ["Option 'priority' is not known", "known options:"],
    ),
    (
        "scratch as a string",
        {"git_branch": "m", "scratch": "yes"},
        ["Option 'scratch' (--scratch) must be true or false; got the string 'yes'."],
    ),
    (
        "compose id not an integer",
        {"git_branch": "m", "compose_ids": [1, "2"]},
        [
            "Option 'compose_ids' (--compose-id) must be a list of ODCS compose ids",
            "item 2 is the string '2'",
        ],
    ),
    (
        "compose id zero",
        {"git_branch": "m", "compose_ids": [0]},
        ["Option 'compose_ids' (--compose-id) must be", "item 1 is the integer 0"],
    ),
    (
        "yum_repourls a single string",
        {"git_branch": "m", "yum_repourls": "https://x/y.repo"},
        ["Option 'yum_repourls' (--repo-url) must be a list of http or https URLs"],
    ),
    (
        "yum_repourls not http",
        {"git_branch": "m", "yum_repourls": ["https://ok/a.repo", "ftp://x/y.repo"]},
        [
            "Option 'yum_repourls' (--repo-url) has 'ftp://x/y.repo', which is not an http or "
            "https URL"
        ],
    ),
    (
        "yum_repourls without host",
        {"git_branch": "m", "yum_repourls": ["https:///y.repo"]},
        ["Option 'yum_repourls' (--repo-url) has 'https:///y.repo'"],
    ),
    (
        "operator_csv_modifications_url that urlsplit cannot parse",
        {
            "git_branch": "m",
            "isolated": True,
            "release": "1.1",
            "operator_csv_modifications_url": "http://[::1",
        },
        [
            "Option 'operator_csv_modifications_url' (koji: --operator-csv-modifications-url) "
            "has 'http://[::1', which is not an http"
        ],
    ),
    (
        "scratch and isolated",
        {"git_branch": "m", "scratch": True, "isolated": True, "release": "1"},
        ["Options 'scratch' and 'isolated' cannot be used together"],
    ),
    (
        "arch_override for a normal build (fedpkg's dict)",
        fedpkg_opts(arch_override="x86_64"),
        [
            "Option 'arch_override' (koji: --arch-override, fedpkg: --arches) is only allowed "
            "for scratch or isolated builds"
        ],
    ),
    (
        "arch_override not an arch name",
        {"git_branch": "m", "scratch": True, "arch_override": "x86_64 ../etc"},
        [
            "Option 'arch_override' (koji: --arch-override, fedpkg: --arches) has '../etc', "
            "which is not an architecture name"
        ],
    ),
    (
        "arch_override a number",
        {"git_branch": "m", "scratch": True, "arch_override": 64},
        [
            "Option 'arch_override' (koji: --arch-override, fedpkg: --arches) must be a "
            "space-separated string of architectures"
        ],
    ),
    (
        "signing_intent with compose_ids",
        fedpkg_opts(signing_intent="release", compose_ids=[3]),
        ["Options 'signing_intent' and 'compose_ids' cannot be used together"],
    ),
    (
        "operator CSV URL without isolated",
        {"git_branch": "m", "operator_csv_modifications_url": "https://x/m.json"},
        [
            "Option 'operator_csv_modifications_url' (koji: --operator-csv-modifications-url) is "
            "only allowed for isolated builds"
        ],
    ),
    (
        "operator CSV URL not http",
        {
            "git_branch": "m",
            "isolated": True,
            "release": "1.1",
            "operator_csv_modifications_url": "file:///etc/passwd",
        },
        [
            "Option 'operator_csv_modifications_url' (koji: --operator-csv-modifications-url) "
            "has 'file:///etc/passwd'"
        ],
    ),
    (
        "userdata a list",
        {"git_branch": "m", "userdata": "[1, 2]"},
        ["Option 'userdata' (koji: --userdata) must be a JSON object; got a list"],
    ),
    (
        "userdata not JSON",
        {"git_branch": "m", "userdata": "{nope"},
        ["Option 'userdata' (koji: --userdata) is not valid JSON"],
    ),
    (
        "userdata a number",
        {"git_branch": "m", "userdata": 5},
        [
            "Option 'userdata' (koji: --userdata) must be a JSON object (at most 64 KiB); got "
            "the integer 5."
        ],
    ),
    (
        "userdata too large",
        # '{"blob":"' + filler + '"}' is 11 bytes more than the filler
        {"git_branch": "m", "userdata": {"blob": "x" * (USERDATA_MAX_BYTES - 10)}},
        [
            "Option 'userdata' (koji: --userdata) is 65537 bytes as JSON, more than the 65536 "
            "allowed"
        ],
    ),
    (
        "release with a dash",
        fedpkg_opts(isolated=True, release="1-2"),
        ["Option 'release' (koji: --release, fedpkg: --build-release) '1-2' contains '-'"],
    ),
    (
        "release with whitespace",
        {"git_branch": "m", "release": "1 2"},
        ["'1 2' contains ' ', which an image tag cannot hold"],
    ),
    (
        "release empty",
        {"git_branch": "m", "release": ""},
        ["Option 'release' (koji: --release, fedpkg: --build-release) '' is empty"],
    ),
    (
        "release with a slash",
        {"git_branch": "m", "release": "1/2"},
        ["'1/2' contains '/', which an image tag cannot hold"],
    ),
    (
        "release with a macro",
        {"git_branch": "m", "release": "1%{dist}"},
        ["'1%{dist}' contains '%', '{', '}', which an image tag cannot hold"],
    ),
    (
        "release with ..",
        {"git_branch": "m", "release": "1..2"},
        ["'1..2' contains '..'"],
    ),
    (
        "release a number",
        {"git_branch": "m", "release": 3},
        [
            "Option 'release' (koji: --release, fedpkg: --build-release) must be an RPM release "
            "string"
        ],
    ),
    (
        "skip_build True",
        fedpkg_opts(skip_build=True),
        ["Option 'skip_build' (--skip-build) is no longer supported: the feature was removed"],
    ),
    (
        "flatpak not a boolean",
        {"git_branch": "m", "flatpak": 1},
        ["Option 'flatpak' must be true or false; got the integer 1."],
    ),
]


@pytest.mark.parametrize(
    ("opts", "expected"), [c[1:] for c in INVALID_BUILD], ids=[c[0] for c in INVALID_BUILD]
)
def test_invalid_build_opts_are_refused_with_a_sentence(opts, expected):
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts(opts)
    assert len(caught.value.problems) == 1, caught.value.problems
    for fragment in expected:
        assert fragment in caught.value.problems[0]


def test_every_problem_is_reported_together():
    opts = {
        "git_branch": "m",
        "scratch": True,
        "isolated": True,
        "release": "1-1",
        "colour": "blue",
        "yum_repourls": ["ftp://a/b.repo"],
        "userdata": "[]",
    }
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts(opts)
    names = ["'colour'", "'release'", "'yum_repourls'", "'userdata'", "'scratch' and 'isolated'"]
    assert len(caught.value.problems) == len(names)
    for name in names:
        assert any(name in problem for problem in caught.value.problems), name
    assert str(caught.value) == " ".join(caught.value.problems)


def test_each_problem_is_one_sentence_without_jsonschema_wording():
    opts = {"git_branch": 5, "scratch": "no", "compose_ids": "1", "koji_parent_build": []}
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts(opts)
    assert len(caught.value.problems) == 4
    for problem in caught.value.problems:
        assert problem.startswith("Option '")
        assert problem.endswith(".")
        assert "is not of type" not in problem


def test_opts_that_are_not_a_mapping_are_refused():
    with pytest.raises(OptionsError, match="Options must be a mapping"):
        normalize_build_opts(["scratch"])


def test_schemas_are_valid_draft7_json_schemas():
    import jsonschema

    for schema in (BUILD_OPTIONS, SOURCE_OPTIONS):
        jsonschema.Draft7Validator.check_schema(schema)
        json.dumps(schema)
