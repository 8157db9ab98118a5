"""uploads.chunks: how queued log bytes are cut into upload calls."""

from __future__ import annotations

from koji_containerbuild.uploads import chunks

LIMIT = 1000


def test_small_parts_are_joined_up_to_the_limit():
    parts = [bytes([65 + n]) * 100 for n in range(25)]
    sent = list(chunks(parts, LIMIT))
    assert b"".join(sent) == b"".join(parts)
    assert [len(chunk) for chunk in sent] == [1000, 1000, 500]


def test_a_part_of_a_quarter_of_the_limit_goes_alone_without_a_copy():
    big = b"x" * 600
    parts = [b"a" * 10, big, b"b" * 10]
    sent = list(chunks(parts, LIMIT))
    assert sent == [b"a" * 10, big, b"b" * 10]
    assert sent[1] is big


def test_a_part_longer_than_the_limit_is_cut_in_order():
    line = bytes(range(256)) * 10  # 2560 bytes
    sent = list(chunks([b"head", line, b"tail"], LIMIT))
    assert b"".join(sent) == b"head" + line + b"tail"
    assert max(len(chunk) for chunk in sent) <= LIMIT
    assert sent[1:4] == [line[:1000], line[1000:2000], line[2000:]]
