"""The koji CLI plugin file (cli/cli_containerbuild.py): its load cost, a broken install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.cli_harness import REPO

PLUGIN = REPO / "cli" / "cli_containerbuild.py"


def load_plugin():
    spec = importlib.util.spec_from_file_location("cli_containerbuild_under_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loading_the_plugin_leaves_jsonschema_unimported():
    # koji loads every plugin for every command; `koji list-tags` must not pay for
    # the option schema. A fresh interpreter, because this one has imported it.
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('plugin', {str(PLUGIN)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('jsonschema', 'koji_containerbuild') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout == "[]\n"


def test_a_missing_library_fails_the_command_with_the_install_hint(monkeypatch, capsys):
    plugin = load_plugin()
    monkeypatch.setitem(sys.modules, "koji_containerbuild.cli", None)  # import raises
    status = plugin.handle_container_build(None, None, [])
    assert (status, capsys.readouterr().err) == (
        1,
        "koji: error: the koji-containerbuild library cannot be imported (import of "
        "koji_containerbuild.cli halted; None in sys.modules); install "
        "python3-koji-containerbuild or `pip install koji-containerbuild`.\n",
    )
