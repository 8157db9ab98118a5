"""How messages name options: the key and the flag of each client (koji CLI, fedpkg)."""

import pytest

from koji_containerbuild.options import BUILD_OPTIONS, SOURCE_OPTIONS
from koji_containerbuild.optnames import FLAGS, koji_cli_spelling, option_name


def test_release_names_fedpkgs_build_release_not_its_release():
    assert option_name("release") == "'release' (koji: --release, fedpkg: --build-release)"


def test_arch_override_names_fedpkgs_arches():
    assert option_name("arch_override") == (
        "'arch_override' (koji: --arch-override, fedpkg: --arches)"
    )


def test_an_option_spelled_alike_names_its_flag_once():
    assert option_name("scratch") == "'scratch' (--scratch)"


def test_an_option_fedpkg_has_no_flag_for_names_only_the_koji_flag():
    assert option_name("userdata") == "'userdata' (koji: --userdata)"


@pytest.mark.parametrize("key", sorted(set(BUILD_OPTIONS["properties"]) - {"flatpak"}))
def test_every_build_option_has_its_spellings(key):
    assert key in FLAGS


@pytest.mark.parametrize("key", sorted(SOURCE_OPTIONS["properties"]))
def test_every_source_option_has_its_spellings(key):
    assert key in FLAGS


def test_koji_cli_shows_only_its_own_flag():
    sentence = f"Option {option_name('release')} '6' is wrong; drop {option_name('scratch')}."
    assert koji_cli_spelling(sentence) == "Option --release '6' is wrong; drop --scratch."


def test_koji_cli_spells_bare_keys_as_its_flags():
    assert koji_cli_spelling("Option 'yum_repourls' has 'x'.") == "Option --repo-url has 'x'."
