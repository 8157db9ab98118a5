"""The real hub plugin file, loaded by the sandbox hub, called like a Koji client does.

Every call goes through koji.plugin loading, the hub's dispatch with
koji.context set, the kojihub stand-in, and XML-RPC marshalling of arguments,
results and faults (InProcessSession).
"""

import ast
import sys

import koji
import pytest

import koji_containerbuild
from koji_containerbuild.config import HUB_CONFIG_ENV
from tests.rpkg_opts import fedpkg_opts

SRC = "git://127.0.0.1/containers/demo-image.git#0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def hub_config(tmp_path, monkeypatch):
    """The plugin's config file; absent (defaults) unless a test writes it."""
    path = tmp_path / "hub_containerbuild.conf"
    monkeypatch.setenv(HUB_CONFIG_ENV, str(path))

    def write(text):
        path.write_text(text)

    return write


@pytest.fixture
def alice(sandbox_hub):
    return sandbox_hub.session("alice")


@pytest.fixture
def admin(sandbox_hub):
    return sandbox_hub.session("admin")


def task_info(session, task_id):
    info = session.getTaskInfo(task_id, request=True)
    channel = session.getChannel(info["channel_id"])
    return info, channel["name"]


def all_task_ids(session):
    return [task["id"] for task in session.listTasks()]


def test_fedpkg_container_build_call_creates_one_task_with_normalised_opts(alice):
    task_id = alice.buildContainer(SRC, "demo", fedpkg_opts(), priority=None)
    info, channel = task_info(alice, task_id)
    assert info["method"] == "buildContainer"
    assert info["request"] == [SRC, "demo", {"git_branch": "rawhide"}]
    assert info["owner"] == alice.getLoggedInUser()["id"]
    assert info["priority"] == koji.PRIO_DEFAULT
    assert channel == "container"
    assert all_task_ids(alice) == [task_id]


def test_fedpkg_background_scratch_build_with_arches(alice):
    opts = fedpkg_opts(scratch=True, arch_override="x86_64 aarch64")
    task_id = alice.buildContainer(SRC, "demo", opts, priority=5)
    info, _ = task_info(alice, task_id)
    assert info["priority"] == koji.PRIO_DEFAULT + 5
    assert info["request"][2] == {
        "git_branch": "rawhide",
        "scratch": True,
        "arch_override": "x86_64 aarch64",
    }


def test_fedpkg_isolated_build_with_release(alice):
    task_id = alice.buildContainer(SRC, "demo", fedpkg_opts(isolated=True, release="7.1"))
    info, _ = task_info(alice, task_id)
    assert info["request"][2] == {"git_branch": "rawhide", "isolated": True, "release": "7.1"}


def test_fedpkg_isolated_build_of_release_osbs_refuses_makes_no_task(alice):
    with pytest.raises(koji.ParameterError) as refused:
        alice.buildContainer(SRC, "demo", fedpkg_opts(isolated=True, release="6"))
    assert str(refused.value) == (
        "Option 'release' (koji: --release, fedpkg: --build-release) '6' is not an isolated "
        "release: isolated builds need a release of the form 'X.Y' or 'X.Y.Z' such as '1.1'."
    )
    assert all_task_ids(alice) == []


def test_release_with_a_path_makes_no_task(alice):
    with pytest.raises(koji.ParameterError, match=r"'\.\./x' starts with '\.'"):
        alice.buildContainer(SRC, "demo", fedpkg_opts(release="../x"))
    assert all_task_ids(alice) == []


def test_fedpkg_flatpak_build(alice):
    opts = fedpkg_opts(flatpak=True)
    del opts["compose_ids"], opts["dependency_replacements"]
    task_id = alice.buildContainer(SRC, "demo", opts)
    info, _ = task_info(alice, task_id)
    assert info["request"][2] == {"git_branch": "rawhide", "flatpak": True}


def test_source_container_build_task(alice):
    opts = {"koji_build_nvr": "demo-image-1.0-1", "scratch": False, "koji_build_id": None}
    task_id = alice.buildSourceContainer("demo", opts)
    info, channel = task_info(alice, task_id)
    assert info["method"] == "buildSourceContainer"
    assert info["request"] == ["demo", {"koji_build_nvr": "demo-image-1.0-1"}]
    assert channel == "container"


def test_task_params_are_visible_to_hub_policies(sandbox_hub, alice):
    # the task runs in channel 'container' only if every test of the first rule matched
    sandbox_hub.set_policy(
        "channel",
        f"match source {SRC.split('#')[0]}?* && match target demo && bool scratch"
        " && match req_channel container :: req\nall :: use default",
    )
    task_id = alice.buildContainer(SRC, "demo", {"git_branch": "main", "scratch": True})
    channel_id = alice.getTaskInfo(task_id)["channel_id"]
    assert alice.getChannel(channel_id)["name"] == "container"
    params = koji.tasks.parse_task_params("buildSourceContainer", ["demo", {"scratch": True}])
    assert params == {"target": "demo", "opts": {"scratch": True}}


def test_anonymous_call_is_refused(sandbox_hub):
    anonymous = sandbox_hub.session(None)
    with pytest.raises(koji.ActionNotAllowed, match="logged in"):
        anonymous.buildContainer(SRC, "demo", {"git_branch": "main"})
    assert all_task_ids(anonymous) == []


def test_configured_permission_is_required(sandbox_hub, alice, hub_config):
    hub_config("[hub]\nbuild_permission = container-build\n")
    with pytest.raises(koji.ActionNotAllowed, match="needs the 'container-build' permission"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"})
    with pytest.raises(koji.ActionNotAllowed, match="needs the 'container-build' permission"):
        alice.buildSourceContainer("demo", {"koji_build_id": 1})
    assert all_task_ids(alice) == []
    sandbox_hub.grant("alice", "container-build")
    assert alice.buildContainer(SRC, "demo", {"git_branch": "main"})


def test_admin_needs_no_configured_permission(admin, hub_config):
    hub_config("[hub]\nbuild_permission = container-build\n")
    assert admin.buildContainer(SRC, "demo", {"git_branch": "main"})


def test_negative_priority_only_for_admins(alice, admin):
    with pytest.raises(koji.ActionNotAllowed, match="Only admins may give"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"}, priority=-10)
    assert all_task_ids(alice) == []
    task_id = admin.buildContainer(SRC, "demo", {"git_branch": "main"}, priority=-10)
    assert admin.getTaskInfo(task_id)["priority"] == koji.PRIO_DEFAULT - 10


def test_channel_default_comes_from_config(sandbox_hub, alice, hub_config):
    sandbox_hub.add_channel("images")
    hub_config("[channels]\nbuildContainer = images\n")
    task_id = alice.buildContainer(SRC, "demo", {"git_branch": "main"})
    assert task_info(alice, task_id)[1] == "images"
    source_id = alice.buildSourceContainer("demo", {"koji_build_id": 1})
    assert task_info(alice, source_id)[1] == "container"


def test_other_channel_refused_for_users(alice):
    with pytest.raises(koji.ActionNotAllowed, match="Only admins may send container builds"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"}, channel="default")
    with pytest.raises(koji.ActionNotAllowed, match="another channel than 'container'"):
        alice.buildSourceContainer("demo", {"koji_build_id": 1}, channel="default")
    assert all_task_ids(alice) == []


def test_other_channel_allowed_for_admins(admin):
    task_id = admin.buildContainer(SRC, "demo", {"git_branch": "main"}, channel="default")
    assert task_info(admin, task_id)[1] == "default"


def test_other_channel_allowed_with_configured_permission(sandbox_hub, alice, hub_config):
    hub_config("[hub]\nchannel_permission = container-channel\n")
    with pytest.raises(koji.ActionNotAllowed, match="'container-channel' permission"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"}, channel="default")
    sandbox_hub.grant("alice", "container-channel")
    task_id = alice.buildContainer(SRC, "demo", {"git_branch": "main"}, channel="default")
    assert task_info(alice, task_id)[1] == "default"


INVALID = [
    (("https://example.com/app.git#abc", "demo", {"git_branch": "m"}), "is not an SCM URL"),
    (("git://example.com/app.git", "demo", {"git_branch": "m"}), "has no '#revision'"),
    ((SRC, "no-such-target", {"git_branch": "m"}), "'no-such-target' does not exist"),
    ((SRC, "demo", {}), "Option 'git_branch' (koji: --git-branch) is required"),
    ((SRC, "demo", {"git_branch": "m", "colour": "red"}), "Option 'colour' is not known"),
    ((SRC, "demo", {"git_branch": "m", "scratch": "yes"}), "Option 'scratch' (--scratch) must be"),
    (
        (SRC, "demo", {"git_branch": "m", "scratch": True, "isolated": True}),
        "'scratch' and 'isolated' cannot be used together",
    ),
    ((SRC, "demo", {"git_branch": "m", "arch_override": "x86_64"}), "only allowed for scratch"),
    (
        (SRC, "demo", {"git_branch": "m", "signing_intent": "x", "compose_ids": [1]}),
        "'signing_intent' and 'compose_ids' cannot be used together",
    ),
    (
        (SRC, "demo", {"git_branch": "m", "operator_csv_modifications_url": "https://x/y"}),
        "only allowed for isolated builds",
    ),
    ((SRC, "demo", {"git_branch": "m", "yum_repourls": ["file:///x"]}), "not an http or https"),
    ((SRC, "demo", {"git_branch": "m", "userdata": "[]"}), "must be a JSON object"),
    ((SRC, "demo", {"git_branch": "m", "release": "1-1"}), "contains '-'"),
    ((SRC, "demo", {"git_branch": "m", "skip_build": True}), "no longer supported"),
]


@pytest.mark.parametrize(("args", "fragment"), INVALID)
def test_invalid_build_is_a_parameter_error_and_no_task(alice, args, fragment):
    with pytest.raises(koji.ParameterError) as caught:
        alice.buildContainer(*args)
    assert fragment in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert all_task_ids(alice) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("demo", {}), "are both missing"),
        (
            ("demo", {"koji_build_id": "7"}),
            "Option 'koji_build_id' \\(koji: --koji-build-id\\) must be",
        ),
        (("nope", {"koji_build_id": 7}), "'nope' does not exist"),
    ],
)
def test_invalid_source_build_is_a_parameter_error_and_no_task(alice, args, fragment):
    with pytest.raises(koji.ParameterError, match=fragment):
        alice.buildSourceContainer(*args)
    assert all_task_ids(alice) == []


def test_all_problems_come_back_in_one_fault(alice):
    with pytest.raises(koji.ParameterError) as caught:
        alice.buildContainer("https://x/y#1", "nope", {"git_branch": "m", "bogus": 1})
    message = str(caught.value)
    for fragment in ("is not an SCM URL", "'nope' does not exist", "'bogus' is not known"):
        assert fragment in message


def test_broken_config_faults_these_calls_only(alice, hub_config):
    hub_config("[hub]\nbuild_perm = x\n")
    with pytest.raises(koji.GenericError, match="config is broken"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"})
    assert alice.getBuildTarget("demo")["name"] == "demo"
    assert all_task_ids(alice) == []


def test_plugin_imports_only_koji_and_stdlib_at_module_level(repo_root):
    tree = ast.parse((repo_root / "plugins/hub/hub_containerbuild.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"logging", "koji", "koji.plugin", "koji.tasks"}


@pytest.mark.parametrize("missing", ["kojihub", "koji_containerbuild.hub"])
def test_missing_module_faults_these_calls_only(sandbox_hub, alice, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    if missing == "koji_containerbuild.hub":
        monkeypatch.delattr(koji_containerbuild, "hub", raising=False)
    with pytest.raises(koji.GenericError, match="Container builds are not available on this hub"):
        alice.buildContainer(SRC, "demo", {"git_branch": "main"})
    with pytest.raises(koji.GenericError, match="install the koji-containerbuild package"):
        alice.buildSourceContainer("demo", {"koji_build_id": 1})
    assert alice.getBuildTarget("demo")["name"] == "demo"
    assert all_task_ids(alice) == []


def test_fedpkg_call_over_xmlrpc_with_a_real_client_session(hub_server, admin):
    """rpkg's container_build_koji: ClientSession, keyword priority, flatpak opts."""
    client = koji.ClientSession(hub_server.url, {"user": "alice", "password": "alice"})
    client.login()
    opts = fedpkg_opts(scratch=True, arch_override="x86_64", flatpak=True)
    del opts["compose_ids"], opts["dependency_replacements"]
    task_id = client.buildContainer(SRC, "demo", opts, priority=5)
    info = client.getTaskInfo(task_id, request=True)
    assert info["request"] == [
        SRC,
        "demo",
        {"git_branch": "rawhide", "scratch": True, "arch_override": "x86_64", "flatpak": True},
    ]
    assert info["priority"] == koji.PRIO_DEFAULT + 5
    with pytest.raises(
        koji.ParameterError, match="Option 'skip_build' \\(--skip-build\\) is no longer supported"
    ):
        client.buildContainer(SRC, "demo", fedpkg_opts(skip_build=True), priority=None)
    assert all_task_ids(admin) == [task_id]
