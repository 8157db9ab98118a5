"""Files read from a checkout stay inside it (sourcefiles.py), table-driven.

Each case builds a small checkout in which one well-known file is hostile
(a symlink out, a directory, too big) and expects one sentence naming it.
"""

from __future__ import annotations

import os

import pytest

from koji_containerbuild.image.labels import LabelError, read_additional_tags, read_image_labels
from koji_containerbuild.image.sourcefiles import (
    MAX_SOURCE_FILE_BYTES,
    SOURCE_FILES,
    SourceFileError,
    check_source_files,
    read_source_file,
    source_file_path,
)

DOCKERFILE = "FROM scratch\nLABEL com.redhat.component=c name=n version=1 release=1\n"


@pytest.fixture
def host_file(tmp_path):
    """A file of the builder host, outside any checkout."""
    path = tmp_path / "host" / "secret"
    path.parent.mkdir()
    path.write_text("host-secret-word\n")
    return path


@pytest.fixture
def checkout(tmp_path):
    path = tmp_path / "checkout"
    path.mkdir()
    (path / "Dockerfile").write_text(DOCKERFILE)
    return path


def make_absolute_link(checkout, name, host_file):
    (checkout / name).unlink(missing_ok=True)
    os.symlink(host_file, checkout / name)


def make_relative_link(checkout, name, host_file):
    (checkout / name).unlink(missing_ok=True)
    os.symlink(os.path.relpath(host_file, checkout), checkout / name)


def make_link_through_directory(checkout, name, host_file):
    os.symlink(host_file.parent, checkout / "up")
    (checkout / name).unlink(missing_ok=True)
    os.symlink(f"up/{host_file.name}", checkout / name)


def make_dangling_link(checkout, name, host_file):
    (checkout / name).unlink(missing_ok=True)
    os.symlink("nowhere", checkout / name)


def make_directory(checkout, name, host_file):
    (checkout / name).unlink(missing_ok=True)
    (checkout / name).mkdir()


def make_oversized(checkout, name, host_file):
    (checkout / name).write_bytes(b"x" * (MAX_SOURCE_FILE_BYTES + 1))


HOSTILE = [
    (make_absolute_link, "leads outside the repository"),
    (make_relative_link, "leads outside the repository"),
    (make_link_through_directory, "leads outside the repository"),
    (make_dangling_link, "does not exist"),
    (make_directory, "not a regular file"),
    (make_oversized, f"at most {MAX_SOURCE_FILE_BYTES}"),
]


@pytest.mark.parametrize("name", SOURCE_FILES)
@pytest.mark.parametrize(("make", "sentence"), HOSTILE, ids=[m.__name__ for m, _ in HOSTILE])
def test_hostile_source_file_is_refused_with_a_sentence_naming_it(
    checkout, host_file, name, make, sentence
):
    make(checkout, name, host_file)
    with pytest.raises(SourceFileError) as refused:
        check_source_files(str(checkout))
    assert sentence in str(refused.value)
    assert repr(name) in str(refused.value)
    assert "host-secret-word" not in str(refused.value)


def test_link_inside_the_checkout_is_read(checkout):
    (checkout / "tags.txt").write_text("extra\n")
    os.symlink("tags.txt", checkout / "additional-tags")
    assert read_source_file(str(checkout), "additional-tags") == b"extra\n"


def test_absent_file_is_none(checkout):
    assert source_file_path(str(checkout), "additional-tags") is None
    assert read_source_file(str(checkout), "additional-tags") is None


def test_checkout_reached_through_a_symlink_is_still_inside(checkout, tmp_path):
    os.symlink(checkout, tmp_path / "via-link")
    assert read_source_file(str(tmp_path / "via-link"), "Dockerfile") == DOCKERFILE.encode()


def test_ordinary_checkout_passes(checkout):
    (checkout / "additional-tags").write_text("latest\n")
    check_source_files(str(checkout))


def test_symlinked_additional_tags_never_become_tags(checkout, host_file):
    make_absolute_link(checkout, "additional-tags", host_file)
    with pytest.raises(LabelError, match="'additional-tags' is a symlink"):
        read_additional_tags(str(checkout))


def test_symlinked_dockerfile_is_not_read_for_labels(checkout, tmp_path):
    host_dockerfile = tmp_path / "host-Dockerfile"
    host_dockerfile.write_text(DOCKERFILE.replace("name=n", "name=host"))
    make_absolute_link(checkout, "Dockerfile", host_dockerfile)
    with pytest.raises(LabelError, match="'Dockerfile' is a symlink"):
        read_image_labels(str(checkout / "Dockerfile"))
