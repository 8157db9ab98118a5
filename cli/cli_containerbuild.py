"""koji CLI plugin: container-build, flatpak-build and source-container-build.

The koji CLI loads every *.py file in koji_cli_plugins (site-packages),
~/.koji/plugins and --plugin-paths. The commands live in the
koji_containerbuild library; this file only registers them.

The library is imported when one of these commands runs, not when the plugin
is loaded: koji loads every plugin for every command, and the library pulls in
jsonschema, which would make `koji list-tags` pay for option checks it never
makes.
"""

import sys

from koji.plugin import export_cli


def _commands():
    """The library's command module, or None after telling the user how to install it."""
    try:
        from koji_containerbuild.cli import commands
    except ImportError as exc:  # a broken install must not break every koji command
        print(
            f"koji: error: the koji-containerbuild library cannot be imported ({exc}); "
            "install python3-koji-containerbuild or `pip install koji-containerbuild`.",
            file=sys.stderr,
        )
        return None
    return commands


@export_cli
def handle_container_build(goptions, session, args):
    "[build] Build a container image"
    commands = _commands()
    return 1 if commands is None else commands.container_build(goptions, session, args)


@export_cli
def handle_flatpak_build(goptions, session, args):
    "[build] Build a Flatpak container image"
    commands = _commands()
    if commands is None:
        return 1
    return commands.container_build(goptions, session, args, flatpak=True)


@export_cli
def handle_source_container_build(goptions, session, args):
    "[build] Build a source container image from an image build's sources"
    commands = _commands()
    return 1 if commands is None else commands.source_container_build(goptions, session, args)
