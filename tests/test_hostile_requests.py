"""The corpus of hostile requests: what a logged-in user can send, by every channel.

Each row is one input, the channel it comes through and a key phrase of the ONE
sentence that refuses it:

- CLI: the real ``koji`` command with this plugin; exit status 2, the sentence on
  stderr, no traceback, nothing created on the hub;
- XML-RPC: raw calls to the sandbox hub over HTTP (so values no Python client
  would marshal, such as 5000-deep structs or 2**63, reach the hub); the fault
  class and its sentence, no task;
- task args: a task made by an admin (bypassing the hub plugin) run by the real
  builder plugin; a BuildError with the sentence, no backend build, no Koji build.

A refusal never echoes a huge input back: every sentence stays short.
"""

from __future__ import annotations

import koji
import koji.xmlrpcplus
import pytest
import requests

from tests.cli_harness import hub_tasks
from tests.hostile_requests_harness import MAX_SENTENCES, MB, _opts

SRC = "git://127.0.0.1/containers/demo-image.git#0123456789abcdef0123456789abcdef01234567"


def _deep_struct_xml(depth: int) -> str:
    opening = "<value><struct><member><name>a</name>" * depth
    closing = "</member></struct></value>" * depth
    return f"{opening}<value><int>1</int></value>{closing}"


#: Placeholders replaced by raw XML that no Python client would send.
DEEP = "@@deep-struct@@"


INT_2_63 = "@@int-2**63@@"


RAW_VALUES = {
    DEEP: _deep_struct_xml(5000),
    INT_2_63: "<value><i8>9223372036854775808</i8></value>",
}


def _build_call(src=SRC, target="demo", opts=None, priority=None, channel=None):
    opts = {"git_branch": "main"} if opts is None else opts
    return "buildContainer", [src, target, opts], {"priority": priority, "channel": channel}


def _source_call(opts, target="demo"):
    return "buildSourceContainer", [target, opts], {}


# (id, call, fault class, key phrase)
XMLRPC_CASES = [
    (
        "userdata nested 5000 deep",
        _build_call(opts=_opts(userdata={"a": DEEP})),
        koji.ParameterError,
        "Option 'userdata' (koji: --userdata) is nested more than 32 levels deep",
    ),
    (
        "userdata JSON text nested 100000 deep",
        _build_call(opts=_opts(userdata="[" * 100000)),
        koji.ParameterError,
        "Option 'userdata' (koji: --userdata) is nested more than 32 levels deep",
    ),
    (
        "target nested 5000 deep",
        _build_call(target={"a": DEEP}),
        koji.ParameterError,
        "The target must be the name of a Koji build target, not a struct of 1 key",
    ),
    (
        "unknown option nested 5000 deep",
        _build_call(opts=_opts(bogus={"a": DEEP})),
        koji.ParameterError,
        "Option 'bogus' is not known",
    ),
    (
        "IPv6-like SCM URL",
        _build_call(src="git://[::1/containers/app.git#abc"),
        koji.ParameterError,
        "is not a valid SCM URL (Invalid IPv6 URL)",
    ),
    (
        "non-ASCII SCM host",
        _build_call(src="git://127.0.0.1\u00e9/containers/app.git#abc"),
        koji.ParameterError,
        "contains spaces, control or non-ASCII characters",
    ),
    (
        "priority 2**63",
        _build_call(priority=INT_2_63),
        koji.ParameterError,
        "is out of range: Koji stores task priorities as 32-bit integers",
    ),
    (
        "priority 10**10",
        _build_call(priority=10**10),
        koji.ParameterError,
        "The priority 10000000000 is out of range",
    ),
    (
        "compose id 1.0",
        _build_call(opts=_opts(compose_ids=[1.0])),
        koji.ParameterError,
        "Option 'compose_ids' (--compose-id) must be a list of ODCS compose ids",
    ),
    (
        "compose id true",
        _build_call(opts=_opts(compose_ids=[True])),
        koji.ParameterError,
        "item 1 is the boolean true",
    ),
    (
        "compose id past int32",
        _build_call(opts=_opts(compose_ids=[2**31])),
        koji.ParameterError,
        "item 1 is the integer 2147483648",
    ),
    (
        "koji_build_id 1.0",
        _source_call({"koji_build_id": 1.0}),
        koji.ParameterError,
        "Option 'koji_build_id' (koji: --koji-build-id) must be the id of a Koji image build",
    ),
    (
        "dependency replacement without the PM:NAME:VERSION form",
        _build_call(opts=_opts(dependency_replacements=["nonsense"])),
        koji.ParameterError,
        "has 'nonsense', which is not 'PKG_MANAGER:NAME:VERSION[:NEW_NAME]'",
    ),
    (
        "userdata JSON text with NaN",
        _build_call(opts=_opts(userdata='{"a": NaN}')),
        koji.ParameterError,
        "Option 'userdata' (koji: --userdata) holds NaN or Infinity",
    ),
    (
        "userdata JSON text with Infinity",
        _build_call(opts=_opts(userdata='{"a": Infinity}')),
        koji.ParameterError,
        "Option 'userdata' (koji: --userdata) holds NaN or Infinity",
    ),
    (
        "userdata struct with a NaN double",
        _build_call(opts=_opts(userdata={"a": float("nan")})),
        koji.ParameterError,
        "Option 'userdata' (koji: --userdata) holds NaN or Infinity",
    ),
    (
        "1 MB git_branch",
        _build_call(opts=_opts(git_branch="b" * MB)),
        koji.ParameterError,
        "Option 'git_branch' (koji: --git-branch) is 1048576 characters long, more than the 256 "
        "allowed",
    ),
    (
        "git branch with a newline",
        _build_call(opts=_opts(git_branch="main\nFROM evil")),
        koji.ParameterError,
        "Option 'git_branch' (koji: --git-branch) has 'main\\nFROM evil', which contains control",
    ),
    (
        "2 MB SCM URL",
        _build_call(src="git://127.0.0.1/" + "a" * (2 * MB) + "#abc"),
        koji.ParameterError,
        "is longer than the 4096 characters an SCM URL may have",
    ),
    (
        "5000 repo URLs",
        _build_call(opts=_opts(yum_repourls=["https://example.com/a.repo"] * 5000)),
        koji.ParameterError,
        "Option 'yum_repourls' (--repo-url) has 5000 items, more than the 100 allowed",
    ),
    (
        "1 MB target name",
        _build_call(target="t" * MB),
        koji.ParameterError,
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "1 MB channel name",
        _build_call(channel="c" * MB),
        koji.ParameterError,
        "is longer than the 256 characters a Koji channel name may have",
    ),
    (
        "101 option keys",
        _build_call(opts=_opts(**{f"k{i}": 1 for i in range(100)})),
        koji.ParameterError,
        "Options hold 101 keys, more than the 50 allowed",
    ),
    (
        "30 MB option list",
        _build_call(opts=_opts(dependency_replacements=["gomod:x:1"] * (30 * MB // 40))),
        koji.GenericError,
        "Request too long",
    ),
]


def _call_xml(method: str, args: list, kwargs: dict) -> bytes:
    encoded = koji.encode_args(*args, **{k: v for k, v in kwargs.items() if v is not None})
    text = koji.xmlrpcplus.dumps(encoded, methodname=method, allow_none=1)
    for placeholder, raw in RAW_VALUES.items():
        text = text.replace(f"<value><string>{placeholder}</string></value>", raw)
    return text.encode("utf-8")


class RawClient:
    """Logged-in raw XML-RPC calls to the sandbox hub over HTTP."""

    def __init__(self, url: str, user: str = "alice"):
        # Kept: a ClientSession logs out when it is garbage collected.
        self.session = koji.ClientSession(url, {"user": user, "password": user})
        self.session.login()
        self.url = url
        self.sinfo = self.session.sinfo
        self.callnum = 1000

    def call(self, method: str, args: list, kwargs: dict):
        self.callnum += 1
        headers = {
            "Koji-Session-Id": str(self.sinfo["session-id"]),
            "Koji-Session-Key": self.sinfo["session-key"],
            "Koji-Session-Callnum": str(self.callnum),
        }
        body = _call_xml(method, args, kwargs)
        response = requests.post(self.url, data=body, headers=headers, timeout=120)
        try:
            return koji.xmlrpcplus.loads(response.content)[0][0]
        except koji.Fault as fault:
            raise koji.convertFault(fault) from None


@pytest.mark.parametrize(
    ("call", "fault", "phrase"),
    [case[1:] for case in XMLRPC_CASES],
    ids=[case[0] for case in XMLRPC_CASES],
)
def test_hostile_xmlrpc_call_is_one_sentence_and_no_task(
    hub_server, sandbox_hub, call, fault, phrase
):
    method, args, kwargs = call
    with pytest.raises(koji.GenericError) as refused:
        RawClient(hub_server.url).call(method, args, kwargs)
    assert type(refused.value) is fault
    assert phrase in str(refused.value)
    assert len(str(refused.value)) < MAX_SENTENCES
    assert hub_tasks(sandbox_hub) == []


def test_xmlrpc_control_case_creates_the_task(hub_server, sandbox_hub):
    # The raw client itself works: the same call without hostile values is accepted.
    method, args, kwargs = _build_call(priority=5)
    task_id = RawClient(hub_server.url).call(method, args, kwargs)
    assert [task["id"] for task in hub_tasks(sandbox_hub)] == [task_id]
