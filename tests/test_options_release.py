"""Release values in the shared build options (options.py): tag and NVR characters, X.Y."""

import pytest

from koji_containerbuild.options import OptionsError, normalize_build_opts

# ---------------------------------------------------------------- release values
# One rule for version and release (koji_containerbuild.nvr), shared with the labels.

GOOD_RELEASES = ["1", "3.el9", "1.fc40_git2", "_1", "0.1.20250101git_abc", "r" * 100]


BAD_RELEASES = [
    (".", "starts with '.'"),
    ("..", "starts with '.'"),
    (".1", "starts with '.'"),
    ("1..2", "contains '..'"),
    ("-1", "contains '-'"),
    ("1-2", "contains '-'"),
    ("1/2", "contains '/'"),
    ("../../etc", "starts with '.'"),
    ("1%{dist}", "contains '%', '{', '}'"),
    ("1:2", "contains ':'"),
    ("1\n2", "contains control or non-printable characters"),
    ("1\t", "contains control or non-printable characters"),
    ("1 2", "contains ' '"),
    ("1\x1b]0;x\x07", "contains control or non-printable characters"),
    ("1\u00e9", "contains '\\xe9'"),
    ("\u0661", "contains '\\u0661'"),
    ("1+git", "contains '+'"),
    ("1~rc", "contains '~'"),
    ("1^post", "contains '^'"),
    ("r" * 101, "is 101 characters long"),
    ("", "is empty"),
]


@pytest.mark.parametrize("release", GOOD_RELEASES)
def test_release_of_tag_and_nvr_characters_is_accepted(release):
    assert normalize_build_opts({"git_branch": "m", "release": release})["release"] == release


@pytest.mark.parametrize(("release", "reason"), BAD_RELEASES, ids=[b[0] for b in BAD_RELEASES])
def test_bad_release_is_refused_with_one_sentence_naming_both_flags(release, reason):
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts({"git_branch": "m", "release": release})
    (problem,) = caught.value.problems
    assert problem.startswith("Option 'release' (koji: --release, fedpkg: --build-release) ")
    assert reason in problem
    assert problem.endswith(".") and problem.count(". ") == 0
    assert "\n" not in problem and "\x1b" not in problem


@pytest.mark.parametrize("release", ["1.1", "10.2", "1.2.3", "1.2.el9_1"])
def test_isolated_build_takes_an_x_y_release(release):
    opts = {"git_branch": "m", "isolated": True, "release": release}
    assert normalize_build_opts(opts)["release"] == release


@pytest.mark.parametrize("release", ["6", "1.", "1.a", "a.1", "1_2", "1.2."])
def test_isolated_build_refuses_a_release_osbs_would_refuse(release):
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts({"git_branch": "m", "isolated": True, "release": release})
    (problem,) = caught.value.problems
    assert f"'{release}' is not an isolated release" in problem
    assert "'X.Y' or 'X.Y.Z'" in problem


def test_isolated_build_without_release_is_refused():
    with pytest.raises(OptionsError) as caught:
        normalize_build_opts({"git_branch": "m", "isolated": True})
    (problem,) = caught.value.problems
    assert problem.startswith("Option 'isolated' (--isolated) needs option 'release' (koji: ")


def test_release_of_a_normal_build_need_not_be_x_y():
    assert normalize_build_opts({"git_branch": "m", "release": "6"})["release"] == "6"
