"""Dockerfile labels -> image identity, and the rules that refuse a Dockerfile."""

import pytest

from koji_containerbuild.labels import (
    MAX_TAG_LENGTH,
    LabelError,
    read_additional_tags,
    read_image_labels,
)

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
    assert image.tags == ["1.0-3"]


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
    assert image.release is None and image.nvr is None and image.tags == []


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
    with pytest.raises(LabelError, match="version '1-2'"):
        read_image_labels(write(tmp_path, dockerfile))


def test_additional_tags_are_read_and_dash_tags_skipped(tmp_path):
    write(tmp_path, "FROM scratch\n", "latest\n\n# comment\nv1.0\nbad-tag\nlatest\n")
    assert read_additional_tags(str(tmp_path)) == ["latest", "v1.0"]


def test_tags_combine_version_release_and_additional(tmp_path):
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS, "latest\n"))
    assert image.tags == ["1.0-3", "latest"]


def test_tag_of_128_characters_is_accepted(tmp_path):
    release = "r" * (MAX_TAG_LENGTH - len("1.0-"))
    image = read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS), release)
    assert len(image.tags[0]) == MAX_TAG_LENGTH


def test_version_release_tag_over_128_is_refused(tmp_path):
    release = "r" * (MAX_TAG_LENGTH - len("1.0-") + 1)
    with pytest.raises(LabelError, match="129 characters"):
        read_image_labels(write(tmp_path, "FROM scratch\n" + GOOD_LABELS), release)


def test_long_additional_tag_is_refused(tmp_path):
    dockerfile = write(tmp_path, "FROM scratch\n" + GOOD_LABELS, "t" * 129 + "\n")
    with pytest.raises(LabelError, match="at most 128"):
        read_image_labels(dockerfile)
