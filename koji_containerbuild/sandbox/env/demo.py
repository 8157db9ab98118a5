"""The demo: build examples/demo-image through the real koji CLI and show it.

Each run commits the example into the sandbox's git repository with the next
free release (so a second run builds demo-image-<version>-<release+1>), runs
``koji container-build ... --wait --follow-logs`` against the sandbox hub and
shows the task, the Koji build, its pull specs, ``skopeo inspect`` of the
pushed image and ``koji latest-build`` of the destination tag. This is user
interface code: it prints.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile

import koji

from koji_containerbuild.builder import checks
from koji_containerbuild.cli import watch as cli_watch
from koji_containerbuild.image.labels import ImageLabels, read_image_labels
from koji_containerbuild.sandbox.env import layout, runtime
from koji_containerbuild.sandbox.env.gitserve import GitServer

DEMO_REPO = "demo-image"
DEMO_DIR = os.path.join(runtime.EXAMPLES_DIR, "demo-image")
_RELEASE_LABEL = re.compile(r'(\brelease=)"?([^"\s\\]+)"?')


def set_release(dockerfile_text: str, release: str) -> str:
    """Return the Dockerfile text with its ``release`` label set to ``release``."""
    if _RELEASE_LABEL.search(dockerfile_text) is None:
        raise ValueError("The demo Dockerfile has no release label to bump.")
    return _RELEASE_LABEL.sub(lambda m: f'{m.group(1)}"{release}"', dockerfile_text, count=1)


def demo_release(session: koji.ClientSession, image: ImageLabels) -> str:
    """The first release from the example's release label on whose NVR is free to build."""
    first = int(image.release or 1)
    return checks.next_free_release(session, image.component, image.version, after=str(first - 1))


def publish_demo(git_dir: str, git_url: str, release: str) -> str:
    """Commit the example with ``release`` into the sandbox repo; return the SCM URL."""
    git = GitServer(git_dir)
    host_port = git_url.split("://", 1)[1]
    git.host, port = host_port.rsplit(":", 1)
    git.port = int(port)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, DEMO_REPO)
        shutil.copytree(DEMO_DIR, source)
        dockerfile = os.path.join(source, "Dockerfile")
        with open(dockerfile, encoding="utf-8") as handle:
            text = handle.read()
        with open(dockerfile, "w", encoding="utf-8") as handle:
            handle.write(set_release(text, release))
        commit = git.publish(DEMO_REPO, source, f"demo-image release {release}")
    return git.scm_url(DEMO_REPO, commit)


def _run(command: list[str], shown: str | None = None) -> int:
    """Run ``command``, printing it first (as ``shown`` when it holds a password)."""
    print("$ " + (shown or " ".join(shlex.quote(part) for part in command)), flush=True)
    # The koji CLI plugin imports this package: make sure it finds this checkout.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (runtime.REPO_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.call(command, env=env)


def _show_result(session: koji.ClientSession, task_id: int, registry: str) -> int:
    task = session.getTaskInfo(task_id)
    print(f"\nTask {task_id}: {task['method']} {koji.TASK_STATES[task['state']]}")
    result = session.getTaskResult(task_id)
    for build_id in result.get("koji_builds", []):
        build = session.getBuild(int(build_id))
        print(f"Koji build {build['build_id']}: {build['nvr']}"
              f" ({koji.BUILD_STATES[build['state']]})")  # fmt: skip
        for archive in session.listArchives(buildID=build["build_id"]):
            print(f"  archive {archive['filename']} ({archive['size']} bytes)")
    print("Pull specs:")
    for spec in result.get("repositories", []):
        print(f"  {spec}")
    for warning in result.get("user_warnings", []):
        print(f"User warning: {warning}")
    specs = [spec for spec in result.get("repositories", []) if spec.startswith(registry)]
    # Inspect the version-release tag when there is one: the tag users pull.
    specs.sort(key=lambda spec: "@" in spec or spec.count("-") > 1)
    if not specs:
        print("No pull spec in this sandbox's registry to inspect.")
        return 1
    return _run(["skopeo", "inspect", "--tls-verify=false", f"docker://{specs[0]}"])


def web_links(session: koji.ClientSession, hub_url: str, task_id: int) -> list[str]:
    """The web view's pages of the task and of the Koji builds it made."""
    weburl = layout.weburl_for(hub_url)
    lines = [f"Task page:  {cli_watch.task_url(weburl, task_id)}"]
    if koji.TASK_STATES[session.getTaskInfo(task_id)["state"]] == "CLOSED":
        for build_id in session.getTaskResult(task_id).get("koji_builds", []):
            lines.append(f"Build page: {cli_watch.build_url(weburl, int(build_id))}")
    return lines


def run_demo(info: dict) -> int:
    """Build the next release of the demo image; return the exit status."""
    session = koji.ClientSession(info["hub_url"])
    image = read_image_labels(os.path.join(DEMO_DIR, "Dockerfile"))
    name, version = image.component, image.version
    release = demo_release(session, image)
    print(f"\nBuilding {name}-{version}-{release} from examples/demo-image.", flush=True)
    scm_url = publish_demo(os.path.join(info["state_dir"], "git"), info["git_url"], release)
    build_args = ["container-build", runtime.TARGET, scm_url,
                  "--git-branch", "main", "--wait", "--follow-logs"]  # fmt: skip
    shown = " ".join([runtime.koji_command_text(info["state_dir"]), *map(shlex.quote, build_args)])
    status = _run([*runtime.koji_command(info["state_dir"]), *build_args], shown)
    tasks = session.listTasks(
        opts={"method": "buildContainer"}, queryOpts={"order": "-id", "limit": 1}
    )
    if not tasks:
        print("No buildContainer task was created.")
        return status or 1
    links = web_links(session, info["hub_url"], tasks[0]["id"])
    if status != 0:
        print(f"\nThe build did not succeed (koji exited with {status});"
              f" worker logs are in {info['state_dir']}/logs.")  # fmt: skip
        _print_links(links)
        return status
    shown = _show_result(session, tasks[0]["id"], info["registry"])
    print(f"\nThe build is tagged into the target's destination tag {runtime.DEST_TAG}:")
    latest = ["latest-build", runtime.DEST_TAG, name]
    tagged = _run(
        [*runtime.koji_command(info["state_dir"]), *latest],
        " ".join([runtime.koji_command_text(info["state_dir"]), *latest]),
    )
    promoted = run_promotion(session, info, f"{name}-{version}-{release}")
    print(
        "\nThe sandbox keeps running for a closer look: './scripts/demo status' shows it, "
        "'./scripts/demo stop' stops it."
    )
    _print_links(links)
    return shown or tagged or promoted


def run_promotion(session: koji.ClientSession, info: dict, nvr: str) -> int:
    """Tag the build into the release tag: a promoteContainer task copies and signs it."""
    print(f"\nReleasing it: tagging into {runtime.RELEASE_TAG} promotes it to the production "
          "registry, signed.")  # fmt: skip
    koji_cmd, koji_text = (
        runtime.koji_command(info["state_dir"]),
        runtime.koji_command_text(info["state_dir"]),
    )
    tag_args = ["tag-build", "--wait", runtime.RELEASE_TAG, nvr]
    status = _run([*koji_cmd, *tag_args], " ".join([koji_text, *tag_args]))
    tasks = session.listTasks(
        opts={"method": "promoteContainer"}, queryOpts={"order": "-id", "limit": 1}
    )
    if status != 0 or not tasks:
        print("No promoteContainer task was created.")
        return status or 1
    watch = ["watch-task", str(tasks[0]["id"])]
    status = _run([*koji_cmd, *watch], " ".join([koji_text, *watch]))
    if status != 0:
        return status
    result = session.getTaskResult(tasks[0]["id"])
    print(f"\nProduction pull specs (signed with key {result['signer']['fingerprint']}):")
    for spec in result["pull_specs"]:
        print(f"  {spec}")
    pull = result["pull_specs"][1]
    print("\nVerify the signature as a client does (policy.json trusts only the builder's key):")
    verify = ["skopeo", "--policy", info["policy"], "--registries.d",
              os.path.join(info["state_dir"], "signing", "registries.d"), "copy",
              "--src-tls-verify=false", f"docker://{pull}"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        return _run([*verify, f"dir:{tmp}/image"], " ".join([*verify, "dir:/tmp/image"]))


def _print_links(links: list[str]) -> None:
    print("\nIn a browser:")
    for line in links:
        print(f"  {line}")
