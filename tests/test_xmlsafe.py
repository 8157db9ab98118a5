"""The one rule for text that leaves the builder over XML-RPC (xmlsafe.py)."""

from __future__ import annotations

import koji
import koji.xmlrpcplus
import pytest

from koji_containerbuild.xmlsafe import reported, xml_safe, xml_safe_text

UNSAFE = [
    ("esc\x1b[2J", "esc\\x1b[2J"),
    ("bell\x07", "bell\\x07"),
    ("nul\x00", "nul\\x00"),
    ("vt\x0bff\x0c", "vt\\x0bff\\x0c"),
    ("us\x1f", "us\\x1f"),
    ("lone\udc80surrogate", "lone\\udc80surrogate"),
    ("nonchar\ufffe\uffff", "nonchar\\ufffe\\uffff"),
]
SAFE = ["plain", "tab\tlf\ncr\r", "unicode é ✓ 😀", "del\x7f c1\x85", ""]


@pytest.mark.parametrize(("text", "expected"), UNSAFE)
def test_characters_xml_cannot_carry_are_escaped_visibly(text, expected):
    assert xml_safe_text(text) == expected


@pytest.mark.parametrize("text", SAFE)
def test_text_xml_can_carry_is_unchanged(text):
    assert xml_safe_text(text) == text


def parses_as_xml(value) -> bool:
    body = koji.xmlrpcplus.dumps((value,), methodresponse=1, allow_none=1)
    try:
        koji.xmlrpcplus.loads(body)
    except Exception:
        return False
    return True


def test_escaped_result_survives_an_xmlrpc_round_trip():
    result = {"user_warnings": ["a\x1bb"], "nested": {"k\x07": ("x\x00", 1, None, True)}}
    assert not parses_as_xml(result)
    assert parses_as_xml(xml_safe(result))


def test_nested_values_keep_their_types():
    value = {"list": ["\x1b"], "tuple": ("\x1b",), "int": 3, "bytes": b"\x1b"}
    assert xml_safe(value) == {"list": ["\\x1b"], "tuple": ("\\x1b",), "int": 3, "bytes": b"\x1b"}


def test_reported_result_is_made_safe():
    assert reported(lambda: {"w": ["\x1b]0;title\x07"]}) == {"w": ["\\x1b]0;title\\x07"]}


def test_reported_koji_error_keeps_its_class_with_a_safe_message():
    def flow():
        raise koji.BuildError("label \x1b broke")

    with pytest.raises(koji.BuildError) as caught:
        reported(flow)
    assert str(caught.value) == "label \\x1b broke"
    assert caught.value.faultCode == koji.BuildError.faultCode


def test_reported_error_with_safe_text_is_the_same_exception():
    error = koji.BuildError("fine")

    def flow():
        raise error

    with pytest.raises(koji.BuildError) as caught:
        reported(flow)
    assert caught.value is error


def test_reported_internal_fault_with_unsafe_text_carries_the_safe_traceback():
    def flow():
        raise RuntimeError("odd \x1b")

    with pytest.raises(koji.GenericError) as caught:
        reported(flow)
    assert "RuntimeError: odd \\x1b" in str(caught.value)
    assert "Traceback" in str(caught.value)
