"""koji CLI plugin: container-build, flatpak-build and source-container-build.

The koji CLI loads every *.py file in koji_cli_plugins (site-packages),
~/.koji/plugins and --plugin-paths. The commands live in the
koji_containerbuild library; this file only registers them.
"""

import sys

from koji.plugin import export_cli

try:
    from koji_containerbuild.cli import commands as _commands
except ImportError as exc:  # a broken install must not break every koji command
    _commands = None
    _IMPORT_ERROR = exc


def _missing_library() -> int:
    print(
        f"koji: error: the koji-containerbuild library cannot be imported ({_IMPORT_ERROR}); "
        "install python3-koji-containerbuild or `pip install koji-containerbuild`.",
        file=sys.stderr,
    )
    return 1


@export_cli
def handle_container_build(goptions, session, args):
    "[build] Build a container image"
    if _commands is None:
        return _missing_library()
    return _commands.container_build(goptions, session, args)


@export_cli
def handle_flatpak_build(goptions, session, args):
    "[build] Build a Flatpak container image"
    if _commands is None:
        return _missing_library()
    return _commands.container_build(goptions, session, args, flatpak=True)


@export_cli
def handle_source_container_build(goptions, session, args):
    "[build] Build a source container image from an image build's sources"
    if _commands is None:
        return _missing_library()
    return _commands.source_container_build(goptions, session, args)
