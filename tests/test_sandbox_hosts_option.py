"""The sandbox's --hosts option: a count of hosts or one entry per host."""

from __future__ import annotations

import pytest

from koji_containerbuild.sandbox import __main__ as sandbox_main
from koji_containerbuild.sandbox.env.hosts import HostsError, HostSpec, all_arches, parse_hosts


def test_a_count_gives_that_many_hosts_of_the_machines_arch():
    assert parse_hosts("2", "x86_64") == [
        HostSpec("builder", ("x86_64",)),
        HostSpec("builder2", ("x86_64",)),
    ]


def test_arches_give_one_host_per_entry_named_by_position():
    assert parse_hosts("x86_64,aarch64", "x86_64") == [
        HostSpec("builder", ("x86_64",)),
        HostSpec("builder2", ("aarch64",)),
    ]


def test_an_entry_may_name_its_host_and_list_several_arches():
    assert parse_hosts("x86_64,arm=aarch64+x86_64", "x86_64")[1] == HostSpec(
        "arm", ("aarch64", "x86_64")
    )


def test_the_demo_tag_arches_are_every_hosts_arches_once():
    hosts = parse_hosts("x86_64,aarch64,x86_64", "x86_64")
    assert all_arches(hosts) == ["x86_64", "aarch64"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "--hosts is empty; give a number of hosts (2) or their arches (x86_64,aarch64)."),
        ("0", "--hosts 0: give 1 to 8 hosts."),
        ("9", "--hosts 9: give 1 to 8 hosts."),
        (
            "x86_64,arm64",
            "--hosts: host builder2 has arch 'arm64', which the sandbox cannot build; use "
            "Koji's arch names: x86_64, aarch64, ppc64le, s390x, i686, armhfp.",
        ),
        (
            "x86_64,",
            "--hosts: host builder2 has an empty arch; write each host as [NAME=]ARCH[+ARCH], "
            "separated by commas.",
        ),
        ("a=x86_64,a=aarch64", "--hosts names host a twice; give each host its own name."),
        (
            "Big Host=x86_64",
            "--hosts: 'Big Host' is not a usable host name; use lower-case letters, digits "
            "and '-' (up to 32, starting with a letter).",
        ),
        ("aarch64+aarch64", "--hosts: host builder lists an arch twice; list each once."),
    ],
)
def test_an_unusable_value_is_one_sentence_naming_the_option(value, message):
    with pytest.raises(HostsError) as caught:
        parse_hosts(value, "x86_64")
    assert str(caught.value) == message


def test_the_command_line_reports_a_bad_value_without_a_traceback(tmp_path, capsys):
    status = sandbox_main.main(["--state-dir", str(tmp_path), "--hosts", "0", "status"])
    assert status == 2
    assert capsys.readouterr().err == "sandbox: --hosts 0: give 1 to 8 hosts.\n"


def two_arch_sandbox(tmp_path):
    from koji_containerbuild.sandbox.env import runtime

    native = runtime.host_arch()
    other = "aarch64" if native != "aarch64" else "x86_64"
    return runtime.Sandbox(str(tmp_path / "state"), hosts=parse_hosts(f"{native},{other}", native))


def test_a_host_this_machine_cannot_emulate_is_refused_before_anything_starts(
    tmp_path, monkeypatch
):
    from koji_containerbuild.backends.local import buildah as bh
    from koji_containerbuild.sandbox.env.layout import SandboxError

    binfmt = tmp_path / "binfmt_misc"  # mounted, but no qemu entry registered
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    monkeypatch.setattr(bh, "BINFMT_DIR", str(binfmt))
    box = two_arch_sandbox(tmp_path)
    other = box.hosts[1].arch
    entry = bh.ARCHES[other][1]
    with pytest.raises(SandboxError) as caught:
        box.start()
    assert str(caught.value) == (
        f"Sandbox host builder2 ({other}, --hosts): No binfmt_misc entry {entry} is "
        f"registered, so this machine cannot run {other} binaries; install qemu-user-static "
        f"(it registers {entry})."
    )
    assert not (tmp_path / "state").exists()


def test_a_host_arch_without_its_busybox_is_refused_naming_bootstrap(tmp_path, monkeypatch):
    from koji_containerbuild.backends.local import buildah as bh
    from koji_containerbuild.sandbox.env.layout import SandboxError

    monkeypatch.setattr(bh, "emulation_problem", lambda arch, binfmt_dir=None: None)
    monkeypatch.setenv("KCB_FOREIGN_BUSYBOX_DIR", str(tmp_path / "busybox"))
    box = two_arch_sandbox(tmp_path)
    other = box.hosts[1].arch
    with pytest.raises(SandboxError) as caught:
        box.start()
    assert str(caught.value) == (
        f"{tmp_path}/busybox/{other}/bin/busybox is missing, so the sandbox has no {other} "
        f"base image; run scripts/bootstrap.sh as root (it unpacks Debian's "
        f"busybox-static:{bh.oci_arch(other)} there)."
    )
