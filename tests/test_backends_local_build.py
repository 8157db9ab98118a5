"""Steps of a local build that need no buildah: host RPMs, the image's RPM database."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from koji_containerbuild.backends.local import build as local_build
from koji_containerbuild.backends.local import buildah as bh


def fake_rpm(tmp_path, monkeypatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rpm").write_text("#!/bin/sh\n" + script)
    (bin_dir / "rpm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_host_rpms_are_listed_in_cg_component_form(tmp_path, monkeypatch):
    fake_rpm(
        tmp_path,
        monkeypatch,
        "printf 'rpm\\t4.20.1\\t1.fc42\\t(none)\\tx86_64\\tabc\\t(none)\\t"
        "RSA/SHA256, Key ID 105ef944\\n'\n"
        "printf 'gpg-pubkey\\t105ef944\\t1\\t(none)\\t(none)\\t(none)\\t(none)\\t(none)\\n'\n",
    )
    assert local_build.host_rpms() == [
        {
            "type": "rpm",
            "name": "rpm",
            "version": "4.20.1",
            "release": "1.fc42",
            "epoch": None,
            "arch": "x86_64",
            "sigmd5": "abc",
            "signature": "105ef944",
        }
    ]


def test_host_rpms_of_a_failing_query_are_none(tmp_path, monkeypatch):
    fake_rpm(tmp_path, monkeypatch, "echo 'error: cannot open Packages database' >&2; exit 1\n")
    assert local_build.host_rpms() == []


def test_host_rpms_are_what_the_machine_rpm_database_holds():
    # Debian's rpm has an empty database (no components); a Fedora builder lists its RPMs.
    listed = subprocess.run(
        ["rpm", "-qa", "--qf", "%{NAME}\\n"], capture_output=True, text=True, check=False
    ).stdout.split()
    expected = sorted(name for name in listed if name != "gpg-pubkey")
    assert sorted(c["name"] for c in local_build.host_rpms()) == expected


def docker_archive(tmp_path, layers: list[dict[str, bytes]]) -> tarfile.TarFile:
    """A docker-archive-shaped tar: one inner tar per layer with the given files."""
    outer_path = tmp_path / "image.tar"
    with tarfile.open(outer_path, "w") as outer:
        for number, files in enumerate(layers):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as layer:
                for name, data in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    layer.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo(f"layer{number}.tar")
            info.size = inner.tell()
            inner.seek(0)
            outer.addfile(info, inner)
    return tarfile.open(outer_path)


def test_an_rpm_database_in_a_lower_layer_is_found(tmp_path):
    archive = docker_archive(
        tmp_path, [{"./var/lib/rpm/rpmdb.sqlite": b"db"}, {"usr/bin/app": b"#!"}]
    )
    assert local_build.layers_hold_rpmdb(archive, ["layer0.tar", "layer1.tar"])


def test_an_image_without_an_rpm_database_needs_no_mount(tmp_path):
    archive = docker_archive(tmp_path, [{"bin/busybox": b"\x7fELF", "var/lib/rpmish": b"x"}])
    assert not local_build.layers_hold_rpmdb(archive, ["layer0.tar"])


# -- long lines: the runner never holds more than MAX_LINE_BYTES of one line ----

SPLIT_CASES = {
    "short_lines": (b"a\nbb\n", 4, [b"a", b"bb"]),
    "no_final_newline": (b"a\nbb", 4, [b"a", b"bb"]),
    "line_of_exactly_the_limit": (b"abcd\n", 4, [b"abcd"]),
    "long_line_in_pieces": (b"abcdefghij\nk\n", 4, [b"abcd", b"efgh", b"ij", b"k"]),
    "two_byte_char_not_split": (b"abc\xc3\xa9d\n", 4, [b"abc", b"\xc3\xa9d"]),
    "four_byte_char_not_split": (b"a\xf0\x9f\x98\x80b\n", 4, [b"a", b"\xf0\x9f\x98\x80", b"b"]),
    "invalid_utf8_cut_anywhere": (b"\xff\xff\xff\xff\xff\n", 4, [b"\xff\xff\xff\xff", b"\xff"]),
}


@pytest.mark.parametrize(("data", "limit", "expected"), SPLIT_CASES.values(), ids=SPLIT_CASES)
def test_output_lines_split_long_lines_at_character_boundaries(data, limit, expected):
    assert list(bh.output_lines(io.BufferedReader(io.BytesIO(data)), limit)) == expected


@pytest.mark.parametrize(("data", "limit", "expected"), SPLIT_CASES.values(), ids=SPLIT_CASES)
def test_line_pieces_cut_like_output_lines(data, limit, expected):
    pieces = [p for line in data.rstrip(b"\n").split(b"\n") for p in bh.line_pieces(line, limit)]
    assert pieces == expected


def test_run_streamed_hands_a_long_line_over_in_pieces():
    size = 3 * bh.MAX_LINE_BYTES + 5
    pieces: list[bytes] = []
    script = f"head -c {size} /dev/zero | tr '\\0' L; echo; echo after"
    assert bh.run_streamed(["sh", "-c", script], pieces.append) == 0
    assert max(map(len, pieces)) == bh.MAX_LINE_BYTES
    assert b"".join(pieces[:-1]) == b"L" * size
    assert pieces[-1] == b"after"


def test_log_writer_records_hold_at_most_max_line_bytes(tmp_path):
    path = tmp_path / "build.log"
    writer = local_build.LogWriter(str(path))
    writer.write("x86_64", b"L" * (2 * bh.MAX_LINE_BYTES + 1) + b"\nshort")
    writer.close()
    records = path.read_bytes().split(b"\n")[:-1]
    assert [len(r) for r in records] == [
        len(b"x86_64\t") + bh.MAX_LINE_BYTES,
        len(b"x86_64\t") + bh.MAX_LINE_BYTES,
        len(b"x86_64\t") + 1,
        len(b"x86_64\tshort"),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"request": {"platforms": ["x86_64"]}}, ["x86_64"]),
        ({"request": {"platforms": ["x86_64", "aarch64"]}}, ["x86_64", "aarch64", "list"]),
        ({"request": {"platforms": ["aarch64"], "push_by_digest": True}}, ["aarch64"]),
        ({"request": {"platforms": ["x86_64", "aarch64"]}, "images": [{}, {}]}, ["list"]),
    ],
    ids=["one-arch", "two-arches", "arch-subtask", "image-list"],
)
def test_local_refs_name_only_the_images_the_runner_makes(spec, expected):
    refs = bh.local_refs("7-build", spec)
    assert refs == [f"localhost/koji-containerbuild/7-build:{tag}" for tag in expected]
