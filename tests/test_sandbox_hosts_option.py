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
