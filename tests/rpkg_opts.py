"""The opts dicts fedpkg (rpkg 1.70) sends, shared by the option and hub plugin tests.

rpkg sends every optional key, unset ones as None/False; the library must
normalise them away rather than refuse them.
"""


def fedpkg_opts(**changes) -> dict:
    """`fedpkg container-build` on the rawhide branch, with `changes` applied."""
    opts = {
        "scratch": False,
        "release": None,
        "isolated": False,
        "koji_parent_build": None,
        "yum_repourls": None,
        "git_branch": "rawhide",
        "signing_intent": None,
        "compose_ids": None,
        "skip_build": False,
        "dependency_replacements": None,
    }
    opts.update(changes)
    return opts


def fedpkg_flatpak_opts(**changes) -> dict:
    """`fedpkg flatpak-build`: no compose_ids/dependency_replacements, flatpak True."""
    opts = fedpkg_opts(**changes)
    del opts["compose_ids"]
    del opts["dependency_replacements"]
    opts["flatpak"] = True
    return opts
