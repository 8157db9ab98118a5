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

from koji_containerbuild.config import HUB_CONFIG_ENV
from tests.builder_harness import DOCKERFILE, Kojid, write_builder_config
from tests.cli_harness import SOURCE, hub_tasks

#: Longest refusal accepted: a sentence or a few, never the input echoed back.
MAX_SENTENCES = 2000
SRC = "git://127.0.0.1/containers/demo-image.git#0123456789abcdef0123456789abcdef01234567"
MB = 1024 * 1024


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


def _opts(**extra):
    return {"git_branch": "main", **extra}


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


# -- CLI ---------------------------------------------------------------------------

BRANCH = ["--git-branch", "main"]

# (id, command arguments, key phrase of the sentence on stderr)
CLI_CASES = [
    (
        "userdata nested 100000 deep",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", "[" * 100000],
        "--userdata is nested more than 32 levels deep",
    ),
    (
        "userdata with NaN",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", '{"a": NaN}'],
        "--userdata holds NaN or Infinity",
    ),
    (
        "userdata with -Infinity",
        ["container-build", "demo", SOURCE, *BRANCH, "--userdata", '{"a": -Infinity}'],
        "--userdata holds NaN or Infinity",
    ),
    (
        "IPv6-like SCM URL",
        ["container-build", "demo", "git://[::1/containers/app.git#abc", *BRANCH],
        "is not a valid SCM URL (Invalid IPv6 URL)",
    ),
    (
        "SCM URL with a space",
        ["container-build", "demo", "git://127.0.0.1/a b.git#abc", *BRANCH],
        "contains spaces, control or non-ASCII characters",
    ),
    (
        "100 KB SCM URL",
        ["container-build", "demo", "git://127.0.0.1/" + "a" * 100000 + "#abc", *BRANCH],
        "is longer than the 4096 characters an SCM URL may have",
    ),
    (
        "compose id past int32",
        ["container-build", "demo", SOURCE, *BRANCH, "--compose-id", str(2**31)],
        "--compose-id must be a list of ODCS compose ids",
    ),
    (
        "dependency replacement without the PM:NAME:VERSION form",
        ["container-build", "demo", SOURCE, *BRANCH, "--replace-dependency", "nonsense"],
        "--replace-dependency has 'nonsense', which is not",
    ),
    (
        "100 KB git branch",
        ["container-build", "demo", SOURCE, "--git-branch", "b" * 100000],
        "--git-branch is 100000 characters long, more than the 256 allowed",
    ),
    (
        "git branch with a byte that is not UTF-8",
        ["container-build", "demo", SOURCE, "--git-branch", b"ma\xffin"],
        "--git-branch has 'ma\\udcffin', which contains control or non-printable characters",
    ),
    (
        "101 repo URLs",
        ["container-build", "demo", SOURCE, *BRANCH]
        + ["--repo-url=https://example.com/a.repo"] * 101,
        "--repo-url has 101 items, more than the 100 allowed",
    ),
    (
        "300-character arch list",
        ["container-build", "demo", SOURCE, *BRANCH, "--scratch", "--arch-override", "x" * 300],
        "--arch-override is 300 characters long",
    ),
    (
        "300-character target",
        ["container-build", "t" * 300, SOURCE, *BRANCH],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "300-character channel",
        ["container-build", "demo", SOURCE, *BRANCH, "--channel-override", "c" * 300],
        "is longer than the 256 characters a Koji channel name may have",
    ),
    (
        "source build id past int32",
        ["source-container-build", "demo", "--koji-build-id", str(2**31)],
        "--koji-build-id must be the id of a Koji image build",
    ),
]


@pytest.mark.parametrize(
    ("args", "phrase"), [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES]
)
def test_hostile_cli_input_is_a_usage_error_and_sends_nothing(koji_cli, sandbox_hub, args, phrase):
    result = koji_cli.run(*args)
    assert result.returncode == 2, result.stderr[:MAX_SENTENCES]
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < MAX_SENTENCES
    assert hub_tasks(sandbox_hub) == []


def test_refusal_by_the_hub_after_submission_exits_one(
    koji_cli, sandbox_hub, tmp_path, monkeypatch
):
    # Nothing the CLI can check: the hub's configured channel does not exist.
    config = tmp_path / "hub_containerbuild.conf"
    config.write_text("[channels]\nbuildContainer = nowhere\n")
    monkeypatch.setenv(HUB_CONFIG_ENV, str(config))
    result = koji_cli.run("container-build", "demo", SOURCE, *BRANCH, "--nowait")
    assert result.returncode == 1, result.stderr
    assert "the hub refused the build: The channel 'nowhere'" in result.stderr
    assert hub_tasks(sandbox_hub) == []


# -- task args to the builder ---------------------------------------------------------


@pytest.fixture
def kojid(sandbox_hub, tmp_path, monkeypatch):
    config = write_builder_config(
        str(tmp_path / "builder.conf"), "osbs", osbs={"conf_file": str(tmp_path / "osbs.conf")}
    )
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", config)
    return Kojid(sandbox_hub, str(tmp_path / "kojid-work"))


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


SOURCE_PLACEHOLDER = "@@the published source@@"

# (id, method, task args, key phrase of the BuildError)
BUILDER_CASES = [
    (
        "IPv6-like SCM URL",
        "buildContainer",
        ["git://[::1/containers/app.git#abc", "demo", {"git_branch": "main"}],
        "is not a valid SCM URL (Invalid IPv6 URL)",
    ),
    (
        "100 KB SCM URL",
        "buildContainer",
        ["git://127.0.0.1/" + "a" * 100000 + "#abc", "demo", {"git_branch": "main"}],
        "is longer than the 4096 characters an SCM URL may have",
    ),
    (
        "userdata nested 100 deep",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(userdata=_nested(100))],
        "Option 'userdata' (koji: --userdata) is nested more than 32 levels deep",
    ),
    (
        "userdata with NaN",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(userdata='{"a": NaN}')],
        "Option 'userdata' (koji: --userdata) holds NaN or Infinity",
    ),
    (
        "compose id 1.0",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(compose_ids=[1.0])],
        "Option 'compose_ids' (--compose-id) must be a list of ODCS compose ids",
    ),
    (
        "dependency replacement without the PM:NAME:VERSION form",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(dependency_replacements=["nonsense"])],
        "is not 'PKG_MANAGER:NAME:VERSION[:NEW_NAME]'",
    ),
    (
        "1 MB git branch",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(git_branch="b" * MB)],
        "Option 'git_branch' (koji: --git-branch) is 1048576 characters long",
    ),
    (
        "git branch with a newline",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "demo", _opts(git_branch="main\nx")],
        "Option 'git_branch' (koji: --git-branch) has 'main\\nx', which contains control",
    ),
    (
        "1 MB target name",
        "buildContainer",
        [SOURCE_PLACEHOLDER, "t" * MB, {"git_branch": "main"}],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "1 MB target name of a source build",
        "buildSourceContainer",
        ["t" * MB, {"koji_build_id": 1}],
        "is longer than the 256 characters a Koji build target name may have",
    ),
    (
        "koji_build_id 1.0",
        "buildSourceContainer",
        ["demo", {"koji_build_id": 1.0}],
        "Option 'koji_build_id' (koji: --koji-build-id) must be the id of a Koji image build",
    ),
]


@pytest.mark.parametrize(
    ("method", "args", "phrase"),
    [case[1:] for case in BUILDER_CASES],
    ids=[case[0] for case in BUILDER_CASES],
)
def test_hostile_task_args_fail_the_task_with_one_sentence_and_build_nothing(
    kojid, fake_osbs, git_sources, sandbox_hub, method, args, phrase
):
    source = git_sources.publish("demo-image", {"Dockerfile": DOCKERFILE})
    args = [source if arg == SOURCE_PLACEHOLDER else arg for arg in args]
    admin = sandbox_hub.session("admin")
    task_id = admin.makeTask(method, args, channel="container")
    with pytest.raises(koji.BuildError) as refused:
        kojid.run(task_id)
    assert phrase in str(refused.value)
    assert len(str(refused.value)) < MAX_SENTENCES
    assert fake_osbs.created == []
    assert admin.listBuilds() == []
