"""osbs.tekton of the osbs-client 2.8.0 stand-in: Openshift, PipelineRun, TaskRun.

Same names, signatures and data shapes as osbs-client's lower layers, served
by the scripted cluster (fake_openshift) instead of an OpenShift API:
``Openshift.build_url``/``get`` (GET answers carry the raw ``content``
bytes; every request goes through osbs_http's retry policy, which
``Openshift.retries_enabled`` switches off as in osbs-client),
``PipelineRun(os, name).data`` / ``.child_references``,
``TaskRun(os, name).get_info()`` (``status.podName``, ``status.steps[].container``,
the ``tekton.dev/pipelineTask`` label) and ``pods/<pod>/log?container=...``.
"""

import json
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import fake_openshift
import fake_pipelinerun
from osbs.exceptions import OsbsResponseException
from osbs.osbs_http import HttpResponse, attempt_request

API_VERSION = "tekton.dev/v1beta1"
DEFAULT_NAMESPACE = "default"
# osbs-client: a watch reconnects 5 s after its connection ends; wait_for_finish polls
# every 5 s for at most 5 hours
WATCH_RETRY_SECS = 5
WAIT_RETRY_SECS = 5
WAIT_RETRY = (5 * 3600) // WAIT_RETRY_SECS
#: cluster seconds one look of the stand-in's watch stands for (watches are event driven)
WATCH_STEP_SECS = 0.5


def check_response(response, log_level=None):
    if response.status_code not in (200, 201):
        raise OsbsResponseException(message=response.content, status_code=response.status_code)


def check_response_json(response, cmd):
    try:
        return response.json()
    except OsbsResponseException as exc:
        if exc.status_code == 404:
            return None
        raise


class Openshift:
    def __init__(
        self,
        openshift_api_url,
        openshift_oauth_url,
        k8s_api_url=None,
        verbose=False,
        username=None,
        password=None,
        use_kerberos=False,
        kerberos_keytab=None,
        kerberos_principal=None,
        kerberos_ccache=None,
        client_cert=None,
        client_key=None,
        verify_ssl=True,
        use_auth=None,
        token=None,
        namespace=DEFAULT_NAMESPACE,
    ):
        self.os_api_url = openshift_api_url or "https://openshift.invalid/"
        self.k8s_api_url = k8s_api_url
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.verbose = verbose
        # read on every request, as osbs-client's Openshift does
        self.retries_enabled = True

    def build_url(self, api_path, api_version, url, _prepend_namespace=True, **query):
        path = f"namespaces/{self.namespace}/{url}" if _prepend_namespace else url
        if query:
            path = f"{path}?{urlencode(query)}"
        return urljoin(self.os_api_url, f"{api_path}/{api_version}/{path}")

    def request(self, method, url, perform=None):
        """Make a request's attempts; an HttpResponse carrying the failing status, or None."""
        status = attempt_request(
            url, method, retries_enabled=self.retries_enabled, perform=perform
        )
        if status is None:
            return None
        body = {"kind": "Status", "status": "Failure", "code": status}
        return HttpResponse(status, {}, json.dumps(body).encode())

    def get(self, url, with_auth=True, **kwargs):
        cluster = fake_openshift.current()
        cluster.check_fault("openshift_get", (url,))
        failed = self.request("get", url)
        if failed is not None:
            return failed
        parsed = urlparse(url)
        base = urlparse(self.os_api_url).path
        path = parsed.path[len(base) :] if parsed.path.startswith(base) else parsed.path
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        status, content = cluster.http_get(path.lstrip("/"), query)
        return HttpResponse(status, {}, content)


class PipelineRun:
    def __init__(self, os, pipeline_run_name, pipeline_run_data=None):
        self.os = os
        self.pipeline_run_name = pipeline_run_name
        self.api_path = "apis"
        self.api_version = API_VERSION
        self.input_data = pipeline_run_data

    @property
    def pipeline_run_url(self):
        return self.os.build_url(
            self.api_path, self.api_version, f"pipelineruns/{self.pipeline_run_name}"
        )

    @property
    def data(self):
        return self.get_info()

    def get_info(self, wait=False):
        return check_response_json(self.os.get(self.pipeline_run_url), "get_info")

    @property
    def child_references(self):
        data = self.data
        if not data:
            return []
        references = data["status"].get("childReferences", [])
        return [child for child in references if child["kind"] == "TaskRun"]

    def get_logs(self, follow=False, wait=False):
        if not (follow or wait):
            raise NotImplementedError("the stand-in only streams logs (follow=True)")
        return _stream(self)

    def wait_for_finish(self):
        """Poll every 5 s while the run has not finished, for at most 5 hours (as osbs-client)."""
        cluster = fake_openshift.current()
        for _ in range(WAIT_RETRY):
            failed = self.os.request("get", self.pipeline_run_url)  # each poll is a GET
            if failed is not None and failed.status_code != 404:
                failed.json()  # raises OsbsResponseException
            run = cluster.run(self.pipeline_run_name)
            if run is None or not _not_finished(run):
                return
            cluster.sleep(WAIT_RETRY_SECS)


def _not_finished(run):
    """osbs-client's has_not_finished: status Unknown, unless reason PipelineRunCancelled."""
    return run.reason_status() == "Unknown" and run.reason != "PipelineRunCancelled"


class TaskRun:
    def __init__(self, os, task_run_name):
        self.os = os
        self.task_run_name = task_run_name
        self.api_path = "apis"
        self.api_version = API_VERSION

    def get_info(self, wait=False):
        url = self.os.build_url(self.api_path, self.api_version, f"taskruns/{self.task_run_name}")
        return check_response_json(self.os.get(url), "get_info")


_END = object()
MAX_BAD_RESPONSES = 20
WATCH_RETRY = 20


def _open_watch(pipeline_run):
    """The watch's first request: connection errors surface, error answers are retried."""
    cluster = fake_openshift.current()
    for _ in range(MAX_BAD_RESPONSES + 1):
        failed = pipeline_run.os.request("get", pipeline_run.pipeline_run_url)
        if failed is None:
            return
        cluster.sleep(WATCH_RETRY_SECS)
    check_response(failed)


def _stream(pipeline_run):
    """osbs-client's log stream: wait for the run to start, then stream its tasks as they appear.

    Tasks that exist together are streamed round-robin, one line per task per
    round, until each has ended (one quiet task stalls the others); tasks that
    appear later follow once those have ended; the stream ends when the run
    has finished. Every open starts each task from its first line (pods
    re-stream their whole log); each line is decoded here as osbs-client's
    Pod does, so a line that is not UTF-8 raises UnicodeDecodeError out of the
    generator and ends it. A run that does not exist gives an empty stream
    once osbs-client's watches have given up on it.
    """
    cluster = fake_openshift.current()
    _open_watch(pipeline_run)
    run = cluster.run(pipeline_run.pipeline_run_name)
    if run is None:
        for _ in range(2 * WATCH_RETRY):  # wait_for_start's, then wait_for_taskruns' watch
            cluster.sleep(WATCH_RETRY_SECS)
        return
    run.log_opens += 1
    breaks = run.script.stream_breaks
    stream_break = breaks.pop(0) if breaks else None
    while not run.removed and not run.started() and not run.finished:
        cluster.pass_time(WATCH_STEP_SECS)
    streamed = set()
    delivered = 0
    while not run.removed:
        finished = run.finished
        tasks = [task for task in run.started_tasks() if task not in streamed]
        streamed.update(tasks)
        streams = {name: iter(run.script.tasks[name]) for name in tasks}
        while streams:
            for pipeline_task_name, items in list(streams.items()):
                item = next(items, _END)
                while isinstance(item, (fake_pipelinerun.Pause, fake_pipelinerun.Delay)):
                    if isinstance(item, fake_pipelinerun.Delay):
                        time.sleep(item.seconds)
                    else:
                        item.event.wait()  # cancel_build sets it too
                    item = next(items, _END)
                if item is _END or run.cancelled.is_set():
                    del streams[pipeline_task_name]
                    continue
                if stream_break is not None and delivered >= stream_break[0]:
                    if stream_break[1] is None:
                        return
                    raise stream_break[1]
                line = item.decode("utf-8") if isinstance(item, bytes) else item
                delivered += 1
                yield pipeline_task_name, line
        if finished:
            return
        if not tasks:
            cluster.pass_time(WATCH_STEP_SECS)
