"""Garbage Dockerfiles end as one sentence, never a traceback (dockerfile.py).

The corpus holds inputs on which dockerfile-parse itself raises (IndexError,
ValueError, UnicodeDecodeError, found by fuzzing its parser) next to odd ones
it accepts.
"""

from __future__ import annotations

import pytest

from koji_containerbuild.image.dockerfile import DockerfileError, parse_dockerfile, read_dockerfile
from koji_containerbuild.image.labels import LabelError, read_image_labels

#: Inputs that make dockerfile-parse raise.
GARBAGE = [
    b"\r\nLABEL\r\n",  # IndexError
    b"LABEL\n",  # IndexError
    b"FROM scratch\nLABEL\nLABEL name=x\n",  # IndexError
    b"ENV a=1 b\n",  # ValueError
    b"FROM scratch\nENV a=1 b\nLABEL version=$a\n",  # ValueError
    b"\xff\xfe",  # not UTF-8
    b"LABEL name=\xc3\x28\n",  # not UTF-8
]

#: Odd inputs it accepts: they parse to something, without an exception.
ODD = [b"", b"\x00", b"LABEL a=\\", b'LABEL "a', b"FROM\t", b"ENV", b"LABEL a=${b:-"]


@pytest.mark.parametrize("content", GARBAGE)
def test_garbage_dockerfile_is_one_sentence(content):
    with pytest.raises(DockerfileError) as refused:
        parse_dockerfile(content)
    sentence = str(refused.value)
    assert sentence.startswith("The Dockerfile ")
    assert "\n" not in sentence and "Traceback" not in sentence


@pytest.mark.parametrize("content", ODD)
def test_odd_dockerfile_parses_without_an_exception(content):
    assert isinstance(parse_dockerfile(content).labels, dict)


def test_labels_and_base_image_are_read():
    facts = parse_dockerfile(b"FROM base:1\nENV V=2\nLABEL name=n version=$V\n")
    assert facts.labels == {"name": "n", "version": "2"}
    assert facts.baseimage == "base:1"


def test_missing_dockerfile_is_none(tmp_path):
    assert read_dockerfile(str(tmp_path)) is None


@pytest.mark.parametrize("content", GARBAGE)
def test_garbage_dockerfile_is_a_label_error_for_the_builder(tmp_path, content):
    (tmp_path / "Dockerfile").write_bytes(content)
    with pytest.raises(LabelError, match=r"^The Dockerfile "):
        read_image_labels(str(tmp_path / "Dockerfile"))
