"""The plugins' own config files: defaults, values, and refusals that say where."""

import os
from pathlib import Path

import koji
import pytest

from koji_containerbuild.config import (
    BuilderConfig,
    HubConfig,
    LocalSettings,
    OsbsSettings,
    load_builder_config,
    load_hub_config,
)
from koji_containerbuild.configvalues import ConfigError
from koji_containerbuild.promoteconfig import PromoteSettings, PromotionRule, SignerSettings

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def write(tmp_path, text, name="plugin.conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_missing_builder_file_gives_the_defaults(tmp_path):
    config = load_builder_config(str(tmp_path / "absent.conf"))
    assert config == BuilderConfig()
    assert config.backend == "osbs"
    assert config.osbs == OsbsSettings()
    assert config.osbs.conf_file == "/etc/osbs.conf"
    assert config.osbs.retry_seconds == 300.0
    assert config.local.registry == "127.0.0.1:5000"
    assert config.local.storage_root is None


def test_builder_values_are_read_and_converted(tmp_path):
    path = write(
        tmp_path,
        """
[builder]
backend = local
log_flush_interval = 0.5
cg_name = my-cg

[osbs]
conf_file = /etc/osbs/other.conf
binary_section = bin
source_section = src
remove_finished_builds = yes
retry_seconds = 0

[local]
registry = 127.0.0.1:5001
registry_tls_verify = true
state_dir = /srv/state
storage_root = /srv/storage
storage_runroot =
storage_driver = overlay
isolation = oci
""",
    )
    config = load_builder_config(path)
    assert config.backend == "local"
    assert config.log_flush_interval == 0.5
    assert config.cg_name == "my-cg"
    assert config.osbs == OsbsSettings("/etc/osbs/other.conf", "bin", "src", True, 0.0)
    assert config.local == LocalSettings(
        "127.0.0.1:5001", True, "/srv/state", "/srv/storage", None, "overlay", "oci"
    )


def test_builder_arch_defaults_to_the_machines_arch_in_kojis_words(tmp_path):
    config = load_builder_config(str(tmp_path / "absent.conf"))
    assert config.arch == koji.canonArch(os.uname().machine)


def test_builder_arch_is_read(tmp_path):
    assert load_builder_config(write(tmp_path, "[builder]\narch = aarch64\n")).arch == "aarch64"


def test_builder_path_comes_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "[builder]\nbackend = local\n")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_BUILDER_CONFIG", path)
    assert load_builder_config().backend == "local"


BAD_BUILDER = [
    ("[builder]\nbackend = docker\n", "[builder] backend = 'docker'", "one of osbs, local"),
    ("[builder]\nlog_flush_interval = 0\n", "log_flush_interval = '0'", "greater than 0"),
    ("[builder]\nlog_flush_interval = soon\n", "log_flush_interval", "a number"),
    ("[builder]\ncg_name =\n", "[builder] cg_name = ''", "a non-empty value"),
    ("[builder]\narch = arm64\n", "[builder] arch = 'arm64'", "a Koji arch name such as"),
    ("[builder]\narch = x86 64\n", "[builder] arch = 'x86 64'", "a Koji arch name such as"),
    ("[osbs]\nretry_seconds = -1\n", "[osbs] retry_seconds", "a number at least 0"),
    ("[osbs]\nremove_finished_builds = maybe\n", "remove_finished_builds", "true, false"),
    ("[local]\nisolation = none\n", "[local] isolation", "one of chroot, oci, rootless"),
    ("[local]\nregistry_tls_verify = 2\n", "registry_tls_verify", "true, false"),
    ("[builder]\nbackends = osbs\n", "[builder] backends is not a known key", "backend,"),
    ("[kojid]\nbackend = osbs\n", "section [kojid] is not known", "[builder], [osbs]"),
    ("backend = osbs\n", "is not a valid INI file", "[section] headers"),
]


@pytest.mark.parametrize(("text", "where", "accepted"), BAD_BUILDER)
def test_bad_builder_values_name_file_section_key_and_accepted_values(
    tmp_path, text, where, accepted
):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_builder_config(path)
    message = str(caught.value)
    assert message.startswith(path + ": ")
    assert where in message
    assert accepted in message


def test_missing_hub_file_gives_the_defaults(tmp_path):
    config = load_hub_config(str(tmp_path / "absent.conf"))
    assert config == HubConfig()
    assert config.build_permission is None
    assert config.channel_permission is None
    assert config.channels == {"buildContainer": "container", "buildSourceContainer": "container"}


def test_hub_values_are_read(tmp_path):
    path = write(
        tmp_path,
        """
[hub]
build_permission = container-build
channel_permission = container-channel

[channels]
buildContainer = image-builders
""",
    )
    config = load_hub_config(path)
    assert config.build_permission == "container-build"
    assert config.channel_permission == "container-channel"
    assert config.channels == {
        "buildContainer": "image-builders",
        "buildSourceContainer": "container",
    }


def test_hub_empty_permission_means_none(tmp_path):
    path = write(tmp_path, "[hub]\nbuild_permission =\n")
    assert load_hub_config(path).build_permission is None


def test_hub_path_comes_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "[channels]\nbuildSourceContainer = sources\n")
    monkeypatch.setenv("KOJI_CONTAINERBUILD_HUB_CONFIG", path)
    assert load_hub_config().channels["buildSourceContainer"] == "sources"


BAD_HUB = [
    ("[channels]\nbuildRPM = x\n", "[channels] buildrpm is not a known key", "buildContainer"),
    ("[channels]\nbuildContainer =\n", "[channels] buildcontainer = ''", "non-empty"),
    ("[hub]\nbuild_perm = x\n", "[hub] build_perm is not a known key", "build_permission"),
]


@pytest.mark.parametrize(("text", "where", "accepted"), BAD_HUB)
def test_bad_hub_values_name_file_section_key_and_accepted_values(tmp_path, text, where, accepted):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    assert str(caught.value).startswith(path + ": ")
    assert where in str(caught.value)
    assert accepted in str(caught.value)


def test_unreadable_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_hub_config(str(tmp_path))


def test_shipped_example_configs_load_as_the_defaults():
    assert load_builder_config(str(CONF_DIR / "builder_containerbuild.conf")) == BuilderConfig()
    assert load_hub_config(str(CONF_DIR / "hub_containerbuild.conf")) == HubConfig()


PROMOTE_RULE = """
[promote:demo-stable]
registry = prod.example.com:5001
repository_prefix = /released/
floating_tags = latest, stable
signing_identity = release-key
"""


def test_promotion_rule_is_read_by_tag(tmp_path):
    config = load_hub_config(write(tmp_path, PROMOTE_RULE))
    rule = config.promotions["demo-stable"]
    assert rule == PromotionRule(
        tag="demo-stable",
        registry="prod.example.com:5001",
        signing_identity="release-key",
        repository_prefix="released",
        floating_tags=("latest", "stable"),
        channel="container",
    )


def test_no_promote_section_means_no_promotion_rules(tmp_path):
    assert load_hub_config(write(tmp_path, "[hub]\n")).promotions == {}


def test_production_repository_joins_registry_prefix_and_candidate_path():
    rule = PromotionRule(tag="t", registry="prod:5001", signing_identity="k",
                         repository_prefix="released")  # fmt: skip
    assert rule.production_repository("demo/app") == "prod:5001/released/demo/app"


def test_promotion_rule_without_signing_identity_is_refused(tmp_path):
    path = write(tmp_path, "[promote:demo-stable]\nregistry = prod.example.com\n")
    with pytest.raises(ConfigError, match=r"\[promote:demo-stable\] needs signing_identity"):
        load_hub_config(path)


def test_promotion_rule_with_bad_registry_names_the_key(tmp_path):
    path = write(tmp_path, PROMOTE_RULE.replace("prod.example.com:5001", "https://prod"))
    with pytest.raises(ConfigError, match=r"\[promote:demo-stable\] registry = 'https://prod'"):
        load_hub_config(path)


def test_promotion_rule_with_bad_floating_tag_names_the_key(tmp_path):
    path = write(tmp_path, PROMOTE_RULE.replace("latest, stable", "latest, -bad"))
    with pytest.raises(ConfigError, match=r"floating_tags = 'latest, -bad' is not valid"):
        load_hub_config(path)


def test_promotion_rule_with_unknown_key_lists_the_accepted_keys(tmp_path):
    path = write(tmp_path, PROMOTE_RULE + "sign_by = x\n")
    with pytest.raises(
        ConfigError, match=r"sign_by is not a known key: accepted keys are registry"
    ):
        load_hub_config(path)


def test_promote_section_without_a_tag_name_is_refused(tmp_path):
    path = write(tmp_path, "[promote:]\nregistry = prod\nsigning_identity = k\n")
    with pytest.raises(ConfigError, match=r"section \[promote:\] is not known"):
        load_hub_config(path)


def test_builder_signer_and_promote_settings_are_read(tmp_path):
    path = write(
        tmp_path,
        "[promote]\nregistries_d = /srv/registries.d\npolicy = /srv/policy.json\n"
        "tls_verify = false\n[signer:release-key]\n"
        "fingerprint = 55d7d2256b8024e8d21093baeabad86e8db5d260\ngpg_home = /srv/gnupg\n",
    )
    config = load_builder_config(path)
    assert config.promote == PromoteSettings(
        registries_d="/srv/registries.d", policy="/srv/policy.json", tls_verify=False
    )
    assert config.signers == {
        "release-key": SignerSettings(
            name="release-key",
            fingerprint="55D7D2256B8024E8D21093BAEABAD86E8DB5D260",
            gpg_home="/srv/gnupg",
        )
    }


def test_signer_with_short_fingerprint_is_refused(tmp_path):
    path = write(tmp_path, "[signer:k]\nfingerprint = 8DB5D260\n")
    with pytest.raises(ConfigError, match=r"40-digit hexadecimal fingerprint"):
        load_builder_config(path)
