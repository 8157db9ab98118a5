"""The RPM spec builds its subpackages and `pip install .` gives a koji with the commands.

Both tests build for real (rpmbuild, a fresh virtualenv with koji from PyPI),
so they take some seconds each; CI runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "koji-containerbuild.spec"
COMMANDS = ("container-build", "flatpak-build", "source-container-build")
# Files the RPM build installs from the source tree, besides the Python package.
INSTALLED_FROM_TREE = (
    "plugins/hub/hub_containerbuild.py",
    "plugins/builder/builder_containerbuild.py",
    "conf/hub_containerbuild.conf",
    "conf/builder_containerbuild.conf",
    "cli/cli_containerbuild.py",
)


def _project_version() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="session")
def rpm_build(tmp_path_factory) -> dict:
    """Tarball from HEAD by the documented command, then rpmbuild -ta into a tmp topdir."""
    missing = [
        path
        for path in INSTALLED_FROM_TREE
        if subprocess.run(
            ["git", "cat-file", "-e", f"HEAD:{path}"], cwd=REPO, capture_output=True
        ).returncode
    ]
    assert not missing, f"the RPM is built from HEAD, which lacks: {', '.join(missing)}"
    version = _project_version()
    work = tmp_path_factory.mktemp("rpm")
    tarball = work / f"koji-containerbuild-{version}.tar.gz"
    _run(
        [
            "git",
            "archive",
            "--format=tar.gz",
            f"--prefix=koji-containerbuild-{version}/",
            "-o",
            str(tarball),
            "HEAD",
        ],
        cwd=REPO,
    )
    build = _run(
        [
            "rpmbuild",
            "-ta",
            "--nodeps",  # Debian's rpm database does not know python3-devel
            "--define",
            f"_topdir {work / 'top'}",
            # the Python running these tests has pytest and the test dependencies,
            # whether or not its venv is on PATH
            "--define",
            f"__python3 {sys.executable}",
            # %check runs one quick test module here; the suite itself runs in CI.
            "--define",
            "kcb_pytest_args tests/test_options.py",
            str(tarball),
        ],
        cwd=work,
    )
    rpms = {path.name.rsplit("-", 2)[0]: path for path in (work / "top" / "RPMS").glob("*/*.rpm")}
    return {"rpms": rpms, "log": build.stdout + build.stderr, "version": version}


def _query(flag: str, rpm: Path) -> list[str]:
    return _run(["rpm", "-qp", flag, str(rpm)]).stdout.split("\n")


def test_spec_version_matches_pyproject():
    version = _run(["rpmspec", "-q", "--srpm", "--qf", "%{version}", str(SPEC)]).stdout
    assert version == _project_version()


def test_rpmbuild_produces_the_four_subpackages(rpm_build):
    assert sorted(rpm_build["rpms"]) == [
        "koji-containerbuild-builder",
        "koji-containerbuild-cli",
        "koji-containerbuild-hub",
        "python3-koji-containerbuild",
    ]


def test_check_section_runs_the_unit_tests(rpm_build):
    assert re.search(r"\d+ passed", rpm_build["log"]), rpm_build["log"][-3000:]


def test_hub_plugin_and_config_land_where_the_hub_looks(rpm_build):
    rpm = rpm_build["rpms"]["koji-containerbuild-hub"]
    assert "/usr/lib/koji-hub-plugins/hub_containerbuild.py" in _query("-l", rpm)
    assert _query("-c", rpm)[0] == "/etc/koji-hub/plugins/hub_containerbuild.conf"


def test_builder_plugin_and_config_land_where_kojid_looks(rpm_build):
    rpm = rpm_build["rpms"]["koji-containerbuild-builder"]
    assert "/usr/lib/koji-builder-plugins/builder_containerbuild.py" in _query("-l", rpm)
    assert _query("-c", rpm)[0] == "/etc/kojid/plugins/builder_containerbuild.conf"


def test_builder_requires_osbs_client_and_parsers(rpm_build):
    requires = _query("-R", rpm_build["rpms"]["koji-containerbuild-builder"])
    for name in ("osbs-client", "python3-dockerfile-parse", "python3-jsonschema"):
        assert name in requires


def test_cli_plugin_lands_in_koji_cli_plugins(rpm_build):
    files = _query("-l", rpm_build["rpms"]["koji-containerbuild-cli"])
    wanted = r"/usr/lib/python3\.\d+/site-packages/koji_cli_plugins/cli_containerbuild\.py"
    assert any(re.fullmatch(wanted, f) for f in files), files


def test_library_package_holds_the_python_package(rpm_build):
    files = _query("-l", rpm_build["rpms"]["python3-koji-containerbuild"])
    assert any(f.endswith("/site-packages/koji_containerbuild/options.py") for f in files)
    assert not any("koji_cli_plugins" in f for f in files)
    assert not any("/koji_containerbuild/sandbox" in f for f in files)


def test_pip_install_gives_koji_the_three_commands(tmp_path):
    env_dir = tmp_path / "venv"
    # The fresh environment gets its packages from this one's pip (--python), and
    # none of them is byte-compiled (--no-compile): ensurepip and compiling
    # every installed module were most of this test's time, and neither is
    # what it checks.
    venv.create(env_dir, with_pip=False)
    python = str(env_dir / "bin" / "python")
    pip = [
        sys.executable, "-m", "pip", "--python", python,
        "-q", "--disable-pip-version-check", "install", "--no-compile",
    ]  # fmt: skip
    # koji without its Kerberos dependency, as the README says.
    _run([*pip, "--no-deps", "koji"])
    _run(
        [
            *pip,
            "six",
            "python-dateutil",
            "requests",
            "defusedxml",
            "dockerfile-parse",
            "jsonschema",
        ]
    )
    _run([*pip, "--no-deps", str(REPO)])
    # Nothing pulled gssapi in: it needs krb5 headers to build on a fresh machine.
    gssapi = subprocess.run([python, "-c", "import gssapi"], capture_output=True)
    assert gssapi.returncode != 0
    config = tmp_path / "koji.conf"
    config.write_text("[koji]\nserver = http://127.0.0.1:9/kojihub\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path)  # no ~/.koji/plugins from the machine
    result = _run(
        [str(env_dir / "bin" / "koji"), "--config", str(config), "help", "build"],
        cwd=tmp_path,
        env=env,
    )
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith(" ")}
    assert set(COMMANDS) <= listed, result.stdout


def _other_os_family() -> str:
    # The other family's registry binary (docker-registry vs registry) is never here.
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    return "debian" if re.search(r"^ID(_LIKE)?=.*(fedora|rhel)", text, re.M) else "fedora"


def test_bootstrap_as_non_root_names_the_missing_packages(tmp_path):
    family = _other_os_family()
    command = ["bash", "-c", f"source {REPO}/scripts/bootstrap.sh"]
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *command]
    env = dict(os.environ, KCB_OS_FAMILY=family, KCB_VENV=str(tmp_path / "venv"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1
    package = "docker-distribution" if family == "fedora" else "docker-registry"
    installer = "dnf install -y" if family == "fedora" else "apt-get install -y"
    assert f"sudo {installer} " in result.stderr and package in result.stderr
    assert not (tmp_path / "venv").exists()


def test_bootstrap_names_chromium_for_the_browser_tests(tmp_path):
    family = _other_os_family()
    command = ["bash", "-c", f"source {REPO}/scripts/bootstrap.sh"]
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *command]
    env = dict(os.environ, KCB_OS_FAMILY=family, KCB_VENV=str(tmp_path / "venv"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    install_line = next(line for line in result.stderr.splitlines() if "install -y" in line)
    assert "chromium" in install_line.split()
