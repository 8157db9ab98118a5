"""Dockerfile labels -> image identity, and the rules that refuse a Dockerfile."""

import pytest

from koji_containerbuild.image.labels import (
    MAX_TAG_LENGTH,
    LabelError,
    read_additional_tags,
    read_image_labels,
)
from koji_containerbuild.nvr import MAX_VERSION_RELEASE_LENGTH, UNIQUE_SUFFIX_LENGTH

GOOD_LABELS = "LABEL com.redhat.component=demo-image name=demo/image version=1.0 release=3\n"


def write(tmp_path, dockerfile, additional_tags=None):
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile)
    if additional_tags is not None:
        (tmp_path / "additional-tags").write_text(additional_tags)
    return str(path)


def test_reads_component_name_version_release(tmp_path):
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS))
    assert (image.component, image.name, image.version, image.release) == (
        "demo-image",
        "demo/image",
        "1.0",
        "3",
    )
    assert image.nvr == "demo-image-1.0-3"
    assert image.version_release == "1.0-3"


def test_version_may_come_from_env(tmp_path):
    dockerfile = (
        "FROM scratch\nENV APP_VERSION=2.5\n"
        "LABEL com.redhat.component=c name=n version=$APP_VERSION release=1\n"
    )
    assert read_image_labels(write(tmp_path, dockerfile)).version == "2.5"


def test_legacy_label_names_are_accepted(tmp_path):
    dockerfile = "FROM scratch\nLABEL BZComponent=old Name=o/n Version=7 Release=2\n"
    image = read_image_labels(write(tmp_path, dockerfile))
    assert image.nvr == "old-7-2"


def test_release_override_wins_over_label(tmp_path):
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS), "9")
    assert image.release == "9"


def test_missing_release_leaves_nvr_unknown(tmp_path):
    dockerfile = "FROM scratch\nLABEL com.redhat.component=c name=n version=1\n"
    image = read_image_labels(write(tmp_path, dockerfile))
    assert image.release is None and image.nvr is None and image.version_release is None


@pytest.mark.parametrize(
    "labels, missing",
    [
        ("name=n version=1", "com.redhat.component (or BZComponent)"),
        ("com.redhat.component=c version=1", "name (or Name)"),
        ("com.redhat.component=c name=n", "version (or Version)"),
        ('com.redhat.component="" name=n version=1', "com.redhat.component"),
    ],
)
def test_missing_required_label_is_named(tmp_path, labels, missing):
    with pytest.raises(LabelError) as error:
        read_image_labels(write(tmp_path, f"FROM scratch\nLABEL {labels}\n"))
    assert missing in str(error.value)


def test_version_from_undefined_env_is_missing(tmp_path):
    dockerfile = "FROM scratch\nLABEL com.redhat.component=c name=n version=$NOPE\n"
    with pytest.raises(LabelError, match="version"):
        read_image_labels(write(tmp_path, dockerfile))


def test_dash_in_version_is_refused(tmp_path):
    dockerfile = "FROM scratch\nLABEL com.redhat.component=c name=n version=1-2\n"
    with pytest.raises(LabelError, match="The Dockerfile's version label '1-2' contains '-'"):
        read_image_labels(write(tmp_path, dockerfile))


def test_additional_tags_are_read_and_dash_tags_skipped(tmp_path):
    write(tmp_path, "FROM scratch\n", "latest\n\n# comment\nv1.0\nbad-tag\nlatest\n")
    assert read_additional_tags(str(tmp_path)) == ["latest", "v1.0"]


def test_additional_tags_are_kept_apart_from_version_release(tmp_path):
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS, "v1\n"))
    assert (image.version_release, image.additional_tags) == ("1.0-3", ["v1"])


def test_longest_version_release_that_leaves_room_for_the_unique_tag_is_accepted(tmp_path):
    release = "r" * (MAX_VERSION_RELEASE_LENGTH - len("1.0-"))
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS), release)
    assert len(image.version_release) + UNIQUE_SUFFIX_LENGTH == MAX_TAG_LENGTH


def test_version_release_one_character_too_long_is_refused(tmp_path):
    release = "r" * (MAX_VERSION_RELEASE_LENGTH - len("1.0-") + 1)
    with pytest.raises(LabelError, match="version-release tag is 103 characters long"):
        read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS), release)


def test_long_additional_tag_is_refused(tmp_path):
    dockerfile = write(tmp_path, "FROM scratch\n" + GOOD_LABELS, "t" * 129 + "\n")
    with pytest.raises(LabelError, match="at most 128"):
        read_image_labels(dockerfile)


# ---------------------------------------------------------------- version and release values
# The corpus of values the one rule (koji_containerbuild.nvr) refuses, read from labels.

BAD_VALUES = [
    (".", "starts with '.'"),
    ("..", "starts with '.'"),
    (".5", "starts with '.'"),
    ("1..2", "contains '..'"),
    ("1-2", "contains '-'"),
    ("-1", "contains '-'"),
    ("1/2", "contains '/'"),
    ("../../../etc", "starts with '.'"),
    ("1%{dist}", "contains '%', '{', '}'"),
    ("1:2", "contains ':'"),
    ("1+git", "contains '+'"),
    ("1\u00e9", "contains '\\xe9'"),
    ("\u0661\u0662", "contains '\\u0661', '\\u0662'"),
    ("1@sha256", "contains '@'"),
    ("1 2", "contains ' '"),
    ("1\t2", "contains '\\t'"),
    ("1\x1b[2J", "contains '\\x1b', '['"),
    ("v" * 101, "is 101 characters long"),
]


def labelled(tmp_path, version="1.0", release="1"):
    text = (
        "FROM scratch\n"
        f'LABEL com.redhat.component=c name=n version="{version}" release="{release}"\n'
    )
    return write(tmp_path, text)


@pytest.mark.parametrize(("value", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_release_label_is_refused_with_one_sentence(tmp_path, value, reason):
    with pytest.raises(LabelError) as refused:
        read_image_labels(labelled(tmp_path, release=value))
    message = str(refused.value)
    assert message.startswith("The Dockerfile's release label ")
    assert reason in message and message.endswith(".") and "\n" not in message


@pytest.mark.parametrize(("value", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_version_label_is_refused_with_one_sentence(tmp_path, value, reason):
    with pytest.raises(LabelError) as refused:
        read_image_labels(labelled(tmp_path, version=value))
    message = str(refused.value)
    assert message.startswith("The Dockerfile's version label ")
    assert reason in message and message.endswith(".") and "\n" not in message


def test_bad_release_option_is_named_as_the_option(tmp_path):
    with pytest.raises(LabelError) as refused:
        read_image_labels(labelled(tmp_path), "1/2")
    assert str(refused.value).startswith(
        "Option 'release' (koji: --release, fedpkg: --build-release) '1/2' contains '/'"
    )


@pytest.mark.parametrize("value", ["1", "1.0", "2.5.el9_1", "_x", "v" * 50, "10.2.3_rc1"])
def test_tag_and_nvr_safe_values_are_accepted(tmp_path, value):
    image = read_image_labels(labelled(tmp_path, version=value, release=value))
    assert (image.version, image.release) == (value, value)


BAD_COMPONENTS = [
    ("esc", "demo\x1b[2Jimage"),
    ("slash", "demo/image"),
    ("leading_dash", "-demo"),
    ("leading_dot", ".demo"),
    ("space", "demo image"),
    ("unicode", "d\u00e9mo"),
    ("too_long", "c" * 257),
]


@pytest.mark.parametrize(
    "value", [b[1] for b in BAD_COMPONENTS], ids=[b[0] for b in BAD_COMPONENTS]
)
def test_component_koji_cannot_hold_as_a_package_is_refused(tmp_path, value):
    labels = f'LABEL com.redhat.component="{value}" name=demo/image version=1.0 release=3\n'
    with pytest.raises(LabelError, match=r"com\.redhat\.component label .* is not a Koji package"):
        read_image_labels(write(tmp_path, "FROM scratch\n" + labels))


BAD_NAMES = [
    ("upper_case", "Demo/Image"),
    ("bel", "demo/im\x07age"),
    ("double_slash", "demo//image"),
    ("trailing_dash", "demo-"),
    ("colon", "demo:1"),
]


@pytest.mark.parametrize("value", [b[1] for b in BAD_NAMES], ids=[b[0] for b in BAD_NAMES])
def test_name_no_registry_accepts_is_refused(tmp_path, value):
    labels = f'LABEL com.redhat.component=demo-image name="{value}" version=1.0 release=3\n'
    with pytest.raises(LabelError, match=r"name label .* is not a registry repository name"):
        read_image_labels(write(tmp_path, "FROM scratch\n" + labels))
