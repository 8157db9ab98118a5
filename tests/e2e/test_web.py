"""End to end: the links the koji CLI prints open the sandbox's web view in a real browser.

Builds go through ``koji container-build`` against the running sandbox (see
test_e2e.py); the pages are opened in headless chromium (tests/browser.py)
and checked for what a person looks for: the state, the pull specs, the
failure sentence, the log lines arriving in the live tail.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import requests

from koji_containerbuild.sandbox.env import runtime
from tests.browser import LivePage, dump_dom, screenshot
from tests.e2e.test_e2e import build, dockerfile, publish, wait_for
from tests.e2e.test_fault_matrix import PushHold

pytestmark = pytest.mark.e2e

TASK_LINK = re.compile(r"Task info: (\S+/koji/taskinfo\?taskID=\d+)")
BUILD_LINK = re.compile(r"(\S+/koji/buildinfo\?buildID=\d+)")
HOSTILE_LABEL = "<script>document.title='pwned-by-label'</script>"
HOSTILE_LINE = "<script>document.title='pwned-by-log'</script>"
#: set to a path (docs/buildinfo.png) to regenerate the README's screenshot
SCREENSHOT_ENV = "KCB_WEB_SCREENSHOT"


def links(done) -> tuple[str, list[str]]:
    output = done.stdout + done.stderr
    task = TASK_LINK.search(output)
    assert task, f"the CLI printed no task link:\n{output}"
    return task.group(1), BUILD_LINK.findall(output)


@pytest.fixture(scope="session")
def succeeded(sandbox, tmp_path_factory):
    """A build with a hostile label and log line; the links the CLI printed for it."""
    tmp_path = tmp_path_factory.mktemp("web-ok")
    text = dockerfile("e2e-web-ok", "1", f'echo "{HOSTILE_LINE}"').replace(
        'release="1"', f'release="1" description="{HOSTILE_LABEL}"'
    )
    done, _task_id = build(sandbox, publish(sandbox, tmp_path, "e2e-web-ok", text))
    assert done.returncode == 0, done.stdout + done.stderr
    task_url, build_urls = links(done)
    assert len(build_urls) == 1, done.stdout
    return task_url, build_urls[0]


@pytest.fixture(scope="session")
def failed(sandbox, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("web-fail")
    text = dockerfile("e2e-web-fail", "1", "echo e2e-web-failing-step && exit 3")
    done, task_id = build(sandbox, publish(sandbox, tmp_path, "e2e-web-fail", text))
    assert done.returncode == 1, done.stdout + done.stderr
    return links(done)[0], task_id


def test_task_link_shows_the_closed_task_and_its_pull_specs(chromium, sandbox, succeeded):
    task_url, _ = succeeded
    with LivePage(chromium, task_url) as page:
        shown = page.wait_for_text("Pull specs")
    assert re.search(r"State\s+CLOSED", shown)
    assert f"{sandbox.registry_address}/e2e/e2e-web-ok:1.0-1" in shown


def test_task_link_shows_the_build_as_a_link(chromium, succeeded):
    task_url, build_url = succeeded
    dom = dump_dom(chromium, task_url)
    build_id = build_url.rsplit("=", 1)[1]
    assert f'<a href="buildinfo?buildID={build_id}">e2e-web-ok-1.0-1</a>' in dom


def test_build_link_shows_nvr_state_pull_specs_and_archives(chromium, sandbox, succeeded):
    _, build_url = succeeded
    with LivePage(chromium, build_url) as page:
        shown = page.wait_for_text("Archives")
    assert "Build e2e-web-ok-1.0-1" in shown
    assert re.search(r"State\s+COMPLETE", shown)
    by_digest = rf"{re.escape(sandbox.registry_address)}/e2e/e2e-web-ok@sha256:[0-9a-f]{{64}}"
    assert re.search(by_digest, shown)
    assert re.search(r"\.tar(\.gz)?\s", shown)


def test_hostile_label_shows_as_text_on_the_build_page(chromium, succeeded):
    _, build_url = succeeded
    with LivePage(chromium, build_url) as page:
        shown = page.wait_for_text("Labels")
        title = page.evaluate("document.title")
    assert HOSTILE_LABEL in shown
    assert title == "Build e2e-web-ok-1.0-1 | Koji sandbox"


def test_hostile_log_line_shows_as_text_on_the_task_page(chromium, succeeded):
    task_url, _ = succeeded
    with LivePage(chromium, task_url) as page:
        shown = page.wait_for_text("Logs")
        title = page.evaluate("document.title")
    assert HOSTILE_LINE in shown
    assert "pwned" not in title


def test_task_page_without_javascript_links_each_log_file(chromium, succeeded):
    task_url, _ = succeeded
    with LivePage(chromium, task_url, javascript=False) as page:
        page.wait_for_text("Logs")
        dom = page.html()
    hrefs = re.findall(r'<a href="(/kojifiles/work/tasks/[^"]+\.log)">', dom)
    assert hrefs, dom
    base = task_url.split("/koji/", 1)[0]
    assert HOSTILE_LINE in "".join(requests.get(base + h, timeout=10).text for h in hrefs)


def test_failed_task_link_shows_the_failure_sentence(chromium, sandbox, failed):
    task_url, task_id = failed
    sentence = sandbox.session().getTaskResult(task_id, raise_fault=False)["faultString"]
    first_line = sentence.strip().splitlines()[0]
    with LivePage(chromium, task_url) as page:
        # the page shows its "Result" heading before the result itself
        shown = page.wait_for_text(first_line)
    assert re.search(r"State\s+FAILED", shown)
    assert first_line in shown
    assert "e2e-web-failing-step" in shown


def test_live_tail_shows_lines_printed_after_the_page_loaded(chromium, sandbox, tmp_path):
    # The build is held at its push (the fault matrix's hold) while the page
    # loads; the tags it pushes once released are printed after the load.
    url = publish(sandbox, tmp_path, "e2e-web-live",
                  dockerfile("e2e-web-live", "1", 'echo "e2e-live-step"'))  # fmt: skip
    hold = PushHold(sandbox).install()
    try:
        done, task_id = build(sandbox, url, wait=False)
        task_url = links(done)[0]
        session = sandbox.session()

        def log_text() -> str:
            names = [n for n in session.listTaskOutput(task_id) if n.endswith(".log")]
            return "".join(session.downloadTaskOutput(task_id, n).decode(errors="replace")
                           for n in names)  # fmt: skip

        wait_for(lambda: "Holding at push" in log_text(), timeout=240)
        with LivePage(chromium, task_url) as page:
            first = page.wait_for_text("Holding at push")
            assert "e2e-live-step" in first
            assert "Tagging " not in first, "the build pushed its tags before the page loaded"
            hold.release()
            page.wait_for_text("Tagging ", timeout=240)
            final = page.wait_for_text("The task finished (CLOSED)", timeout=240)
    finally:
        hold.release()
    assert re.search(r"State\s+OPEN", first)
    assert re.search(r"State\s+CLOSED", final)


def test_build_page_screenshot_is_a_png(chromium, succeeded, tmp_path):
    _, build_url = succeeded
    shot = tmp_path / "buildinfo.png"
    screenshot(chromium, build_url, str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        shutil.copyfile(shot, os.path.join(runtime.REPO_ROOT, target))
