"""OSBS class of the osbs-client 2.8.0 stand-in, backed by fake_openshift."""

import functools
import sys
import time

import fake_openshift
from osbs.exceptions import (
    OsbsException,
    OsbsResponseException,
    OsbsValidationException,
)
from osbs.tekton import Openshift, PipelineRun


def osbsapi(func):
    """Like osbs-client: anything that is not an OsbsException gets wrapped in one."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OsbsException:
            raise
        except Exception as exc:
            raise OsbsException(cause=exc, traceback=sys.exc_info()[2]) from exc

    return wrapper


class OSBS:
    def __init__(self, openshift_configuration):
        self.os_conf = openshift_configuration
        self.os = Openshift(
            openshift_api_url=openshift_configuration.get_openshift_base_uri(),
            openshift_oauth_url=None,
            namespace=openshift_configuration.get_namespace(),
        )
        self.cluster = fake_openshift.current()
        self.cluster.configurations.append(openshift_configuration)

    # -- helpers -------------------------------------------------------------
    def _run(self, build_name, operation, *args):
        self.cluster.check_fault(operation, (build_name, *args))
        return self.cluster.run(build_name)

    def _existing(self, build_name, operation):
        run = self._run(build_name, operation)
        if run is None:
            raise OsbsResponseException(
                f'{{"kind": "Status", "reason": "NotFound", "message": '
                f'"pipelineruns {build_name} not found"}}',
                404,
            )
        return run

    # -- creating ------------------------------------------------------------
    @osbsapi
    def create_binary_container_build(self, **kwargs):
        return self.create_binary_container_pipeline_run(**kwargs)

    @osbsapi
    def create_binary_container_pipeline_run(
        self,
        git_uri=None,
        git_ref=None,
        git_branch=None,
        component=None,
        flatpak=None,
        git_commit_depth=None,
        isolated=None,
        koji_task_id=None,
        target=None,
        operator_csv_modifications_url=None,
        **kwargs,
    ):
        self.cluster.check_fault("create_binary_container_build", ())
        required = (("git_uri", git_uri), ("git_ref", git_ref), ("git_branch", git_branch))
        missing = [name for name, value in required if not value]
        if missing:
            raise OsbsException("required parameter {} missing".format(", ".join(missing)))
        if operator_csv_modifications_url and not isolated:
            raise OsbsException("Only isolated build can update operator CSV metadata")
        if kwargs.get("max_buildtime_limit") is None:
            # osbs-client compares the repo's limit with None here
            raise OsbsException(cause=TypeError("'>' not supported between int and NoneType"))
        if isolated and not kwargs.get("release"):
            raise OsbsValidationException("The release parameter is required for isolated builds.")
        arguments = dict(
            git_uri=git_uri,
            git_ref=git_ref,
            git_branch=git_branch,
            component=component,
            flatpak=flatpak,
            git_commit_depth=git_commit_depth,
            isolated=isolated,
            koji_task_id=koji_task_id,
            target=target,
            operator_csv_modifications_url=operator_csv_modifications_url,
            **kwargs,
        )
        run = self.cluster.create("binary", arguments)
        return PipelineRun(self.os, run.name, {"metadata": {"name": run.name}})

    @osbsapi
    def create_source_container_build(self, **kwargs):
        return self.create_source_container_pipeline_run(**kwargs)

    @osbsapi
    def create_source_container_pipeline_run(
        self, component=None, koji_task_id=None, target=None, **kwargs
    ):
        self.cluster.check_fault("create_source_container_build", ())
        if not component:
            raise OsbsValidationException("required argument 'component' can't be empty")
        if not kwargs.get("sources_for_koji_build_nvr") and not kwargs.get(
            "sources_for_koji_build_id"
        ):
            raise OsbsValidationException(
                "At least one param from 'sources_for_koji_build_id' or "
                "'sources_for_koji_build_nvr' has to be specified"
            )
        arguments = dict(component=component, koji_task_id=koji_task_id, target=target, **kwargs)
        run = self.cluster.create("source", arguments)
        return PipelineRun(self.os, run.name, {"metadata": {"name": run.name}})

    @osbsapi
    def get_build_name(self, build_response):
        return build_response.pipeline_run_name

    # -- state ---------------------------------------------------------------
    @osbsapi
    def get_build(self, build_name):
        run = self._run(build_name, "get_build")
        return None if run is None else run.info()

    @osbsapi
    def get_build_reason(self, build_name):
        run = self._run(build_name, "get_build_reason")
        return None if run is None else run.reason

    @osbsapi
    def build_has_succeeded(self, build_name):
        run = self._run(build_name, "build_has_succeeded")
        return run is not None and run.reason in ("Succeeded", "Completed")

    @osbsapi
    def build_not_finished(self, build_name):
        run = self._run(build_name, "build_not_finished")
        return run is not None and not run.finished and run.reason != "PipelineRunCancelled"

    @osbsapi
    def build_was_cancelled(self, build_name):
        # like osbs-client 2.8: newer Tekton's "Cancelled" is not recognised
        run = self._run(build_name, "build_was_cancelled")
        return run is not None and run.reason == "PipelineRunCancelled"

    @osbsapi
    def wait_for_build_to_finish(self, build_name):
        run = self._run(build_name, "wait_for_build_to_finish")
        if run is None:
            return None
        deadline = time.monotonic() + 30
        while run.pending_pauses() and not run.cancelled.is_set():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        run.finish()
        return None

    @osbsapi
    def get_build_error_message(self, build_name):
        run = self._run(build_name, "get_build_error_message")
        if run is None:
            return "pipeline run removed;"
        return run.script.error_message

    @osbsapi
    def get_build_results(self, build_name):
        run = self._run(build_name, "get_build_results")
        if run is None:
            return {}
        if run.script.results is not None:
            return dict(run.script.results)
        if run.reason not in ("Succeeded", "Completed"):
            return {}
        return {
            "repositories": {
                "primary": [f"registry.example.com/{run.name}:1.0-1"],
                "unique": [f"registry.example.com/{run.name}:unique"],
                "floating": [f"registry.example.com/{run.name}:latest"],
            },
            "koji-build-id": 1000 + len(self.cluster.created),
            "platforms_result": {"platforms": ["x86_64"]},
        }

    @osbsapi
    def get_final_platforms(self, build_name):
        return None

    # -- actions -------------------------------------------------------------
    @osbsapi
    def cancel_build(self, build_name):
        run = self._run(build_name, "cancel_build")
        if run is None:
            raise OsbsException(
                f"Pipeline run '{build_name}' can't be canceled, because it doesn't exist"
            )
        self.cluster.cancelled.append(build_name)
        run.cancelled.set()
        for pause in run.pending_pauses():
            pause.event.set()
        if not run.finished:
            run.reason = run.script.cancel_reason
        return run.info()

    @osbsapi
    def remove_build(self, build_name):
        run = self._existing(build_name, "remove_build")
        run.removed = True
        self.cluster.removed.append(build_name)
        return {"kind": "Status", "status": "Success"}

    # -- logs ----------------------------------------------------------------
    @osbsapi
    def get_build_logs(self, build_name, follow=False, wait=False):
        self.cluster.check_fault("get_build_logs", (build_name, follow, wait))
        return PipelineRun(self.os, build_name).get_logs(follow=follow, wait=wait)
