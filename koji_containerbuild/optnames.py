"""How messages name a build option: its key and the flag each client spells it with.

The same sentence reaches users of the koji CLI and of fedpkg (rpkg), whose
flags differ: fedpkg's ``--release`` is the dist-git branch's release, its
build release is ``--build-release``, and its arches are ``--arches``. A
message that named only the koji flag sent fedpkg users to the wrong option,
so every message names the option key and both spellings through
:func:`option_name`; the koji CLI shows only its own flag
(:func:`koji_cli_spelling`). Spellings are those of koji_containerbuild.cli.commands
and of rpkg 1.70 (pyrpkg/cli.py, container-build and flatpak-build).
"""

from __future__ import annotations

#: opts key -> (koji CLI flag, fedpkg flag); None where that client has no flag.
FLAGS: dict[str, tuple[str, str | None]] = {
    "scratch": ("--scratch", "--scratch"),
    "isolated": ("--isolated", "--isolated"),
    "release": ("--release", "--build-release"),
    "arch_override": ("--arch-override", "--arches"),
    "koji_parent_build": ("--koji-parent-build", "--koji-parent-build"),
    "yum_repourls": ("--repo-url", "--repo-url"),
    "compose_ids": ("--compose-id", "--compose-id"),
    "signing_intent": ("--signing-intent", "--signing-intent"),
    "dependency_replacements": ("--replace-dependency", "--replace-dependency"),
    "skip_build": ("--skip-build", "--skip-build"),
    # fedpkg sends the branch of the dist-git checkout itself.
    "git_branch": ("--git-branch", None),
    "userdata": ("--userdata", None),
    "operator_csv_modifications_url": ("--operator-csv-modifications-url", None),
    "koji_build_id": ("--koji-build-id", None),
    "koji_build_nvr": ("--koji-build-nvr", None),
}


def option_name(key: str) -> str:
    """``'release' (koji: --release, fedpkg: --build-release)`` for messages."""
    koji_flag, fedpkg_flag = FLAGS[key]
    if fedpkg_flag == koji_flag:
        return f"'{key}' ({koji_flag})"
    if fedpkg_flag is None:
        return f"'{key}' (koji: {koji_flag})"
    return f"'{key}' (koji: {koji_flag}, fedpkg: {fedpkg_flag})"


def koji_cli_spelling(sentence: str) -> str:
    """The sentence as the koji CLI shows it: each option named by its koji flag only."""
    for key, (koji_flag, _) in FLAGS.items():
        sentence = sentence.replace(option_name(key), koji_flag)
        sentence = sentence.replace(f"'{key}'", koji_flag)
    return sentence
