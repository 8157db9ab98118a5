"""Packaging glue that pyproject.toml alone cannot express.

The koji CLI loads its plugins from the directory koji_cli_plugins in
site-packages, so the CLI plugin file cli/cli_containerbuild.py is installed as
the (namespace) package koji_cli_plugins. Metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["koji_containerbuild", "koji_containerbuild.*"]),
        "koji_cli_plugins",
    ],
    package_dir={"koji_cli_plugins": "cli"},
)
