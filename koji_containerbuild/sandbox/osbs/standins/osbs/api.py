"""OSBS class of the osbs-client 2.8.0 stand-in, backed by fake_openshift.

Each method mirrors the osbs-client 2.8 method of the same name: the same
checks in the same order (create calls clone the source and validate before
anything is created), the same exceptions, the same answers for runs that
are gone, and HTTP through :mod:`osbs.osbs_http`'s retry policy.
"""

import functools
import re
import sys

import fake_openshift
from osbs import utils
from osbs.constants import (
    ISOLATED_RELEASE_FORMAT,
    OS_CONFLICT_MAX_RETRIES,
    OS_CONFLICT_WAIT,
    RELEASE_LABEL_FORMAT,
    VERSION_LABEL_FORBIDDEN_CHARS,
)
from osbs.exceptions import (
    OsbsException,
    OsbsResponseException,
    OsbsValidationException,
)
from osbs.tekton import Openshift, PipelineRun, _not_finished, check_response
from osbs.utils.labels import Labels

_BUILD_ID = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


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


def _check_labels(labels):
    """osbs-client's _check_labels: name, component, version set; release, version well formed."""
    values = {}
    missing = False
    for label in (Labels.LABEL_TYPE_NAME, Labels.LABEL_TYPE_COMPONENT, Labels.LABEL_TYPE_VERSION):
        try:
            _, values[label] = labels.get_name_and_value(label)
        except KeyError:
            missing = True
            continue
        if label != Labels.LABEL_TYPE_VERSION and not values[label]:
            missing = True
    try:
        _, release = labels.get_name_and_value(Labels.LABEL_TYPE_RELEASE)
    except KeyError:
        release = None
    if release and not RELEASE_LABEL_FORMAT.match(release):
        raise OsbsValidationException("release label doesn't have proper format")
    version = values.get(Labels.LABEL_TYPE_VERSION)
    if version:
        wrong = [char for char in VERSION_LABEL_FORBIDDEN_CHARS if char in version]
        if wrong:
            raise OsbsValidationException(
                f"version label '{version}' contains not allowed chars : '{wrong}'"
            )
    if missing:
        raise OsbsValidationException("required label missing from Dockerfile")
    if "." in values[Labels.LABEL_TYPE_NAME].split("/", 1)[0]:
        raise OsbsValidationException("initial image name component must not contain '.'")
    return values


def _build_id(name):
    name = name[:63]
    if not _BUILD_ID.match(name):
        raise OsbsValidationException(f"Build ID '{name}', doesn't match regex '{_BUILD_ID}'")
    return name


def _check_user_params(flatpak, base_image, compose_ids, scratch, isolated, kwargs):
    """BuildUserParams.make_params' checks and _checks_for_isolated, in their order."""
    if not base_image and not flatpak:
        raise OsbsValidationException("base_image must be provided")
    if kwargs.get("signing_intent") and compose_ids:
        raise OsbsValidationException(
            "Please only define signing_intent -OR- compose_ids, not both"
        )
    for key in ("compose_ids", "dependency_replacements", "yum_repourls"):
        value = kwargs.get(key)
        if not (value is None or isinstance(value, list)):
            raise OsbsValidationException(f"{key} must be a list")
    if (scratch, isolated).count(True) > 1:
        raise OsbsValidationException(
            "Build variations are mutually exclusive. Must set either scratch, isolated, or none. "
        )
    if isolated:
        release = kwargs.get("release")
        if not release:
            raise OsbsValidationException("The release parameter is required for isolated builds.")
        if not ISOLATED_RELEASE_FORMAT.match(release):
            raise OsbsValidationException(
                "For isolated builds, the release value must be in the format: "
                f"{ISOLATED_RELEASE_FORMAT.pattern}"
            )


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
    def _url(self, build_name):
        return PipelineRun(self.os, build_name).pipeline_run_url

    def _request(self, method, build_name, operation, *args):
        """The API-level fault of ``operation``, then the HTTP request: failing status or None."""
        self.cluster.check_fault(operation, (build_name, *args))
        failed = self.os.request(method, self._url(build_name))
        return None if failed is None else failed.status_code

    def _run(self, build_name, operation, *args):
        """The run as a GET of it sees it: None when it is gone (404)."""
        status = self._request("get", build_name, operation, *args)
        if status == 404:
            return None
        if status is not None:
            check_response(_status_response(status))
        return self.cluster.run(build_name)

    def _start(self, name, kind, arguments):
        """PipelineRun.start_pipeline_run: the POST that creates the run."""
        failed = self.os.request(
            "post",
            self.os.build_url("apis", "tekton.dev/v1beta1", "pipelineruns"),
            perform=lambda: self.cluster.create(name, kind, arguments),
        )
        if failed is not None:
            failed.json()
        run = self.cluster.create(name, kind, arguments)
        if run is None:
            raise OsbsResponseException(
                f'{{"kind": "Status", "reason": "AlreadyExists", "message": '
                f'"pipelineruns.tekton.dev \\"{name}\\" already exists"}}',
                409,
            )
        return PipelineRun(self.os, name, {"metadata": {"name": name}})

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
        repo_info = utils.get_repo_info(
            git_uri, git_ref, git_branch=git_branch, depth=git_commit_depth
        )
        if flatpak and not repo_info.is_flatpak:
            raise OsbsException(
                "Flatpak build, "
                "but repository doesn't have a container.yaml with a flatpak: section"
            )
        if not flatpak and repo_info.is_flatpak:
            raise OsbsException(
                "Not a flatpak build, but repository has a container.yaml with a flatpak: section"
            )
        max_limit = kwargs.get("max_buildtime_limit")
        repo_limit = 0  # container.yaml's buildtime limit; 0: none set
        if repo_limit > max_limit:
            raise OsbsException(f"Build limit cannot be more than {max_limit}")
        if repo_info.labels is not None:
            _check_labels(repo_info.labels)
        _check_user_params(
            flatpak,
            repo_info.base_image,
            kwargs.get("compose_ids"),
            kwargs.get("scratch"),
            isolated,
            kwargs,
        )
        postfix = utils.generate_random_postfix()
        if isolated:
            name = f"isolated-{postfix}"
        elif kwargs.get("scratch"):
            name = f"scratch-{postfix}"
        else:
            name = _build_id(utils.make_name_from_git(git_uri, git_branch))
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
        return self._start(name, "binary", arguments)

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
        if (
            kwargs.get("sources_for_koji_build_nvr") is None
            and kwargs.get("sources_for_koji_build_id") is None
        ):
            raise OsbsValidationException(
                "At least one param from 'sources_for_koji_build_id' or "
                "'sources_for_koji_build_nvr' must be specified"
            )
        arguments = dict(component=component, koji_task_id=koji_task_id, target=target, **kwargs)
        return self._start(f"source-{utils.generate_random_postfix()}", "source", arguments)

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
        return run is not None and _not_finished(run)

    @osbsapi
    def build_was_cancelled(self, build_name):
        # osbs-client 2.8 knows only PipelineRunCancelled, not CancelledRunFinally or Cancelled
        run = self._run(build_name, "build_was_cancelled")
        return run is not None and run.reason == "PipelineRunCancelled"

    @osbsapi
    def wait_for_build_to_finish(self, build_name):
        self.cluster.check_fault("wait_for_build_to_finish", (build_name,))
        return PipelineRun(self.os, build_name).wait_for_finish()

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
        """A merge patch of spec.status CancelledRunFinally; only a 409 conflict is retried."""
        for counter in range(OS_CONFLICT_MAX_RETRIES + 1):
            status = self._request("patch", build_name, "cancel_build")
            if status != 409 or counter == OS_CONFLICT_MAX_RETRIES:
                break
            self.cluster.sleep(OS_CONFLICT_WAIT * 2**counter)
        run = self.cluster.run(build_name)
        if status == 404 or (status is None and run is None):
            raise OsbsException(
                f"Pipeline run '{build_name}' can't be canceled, because it doesn't exist"
            )
        if status is not None:
            check_response(_status_response(status))
        self.cluster.cancelled.append(build_name)
        run.cancel()
        return run.info()

    @osbsapi
    def remove_build(self, build_name):
        status = self._request("delete", build_name, "remove_build")
        run = self.cluster.run(build_name)
        if status is None and run is None:
            status = 404
        if status is not None:
            check_response(_status_response(status))
        run.removed = True
        self.cluster.removed.append(build_name)
        return {"kind": "Status", "status": "Success"}

    # -- logs ----------------------------------------------------------------
    @osbsapi
    def get_build_logs(self, build_name, follow=False, wait=False):
        self.cluster.check_fault("get_build_logs", (build_name, follow, wait))
        return PipelineRun(self.os, build_name).get_logs(follow=follow, wait=wait)


def _status_response(status):
    from osbs.osbs_http import HttpResponse

    body = (
        f'{{"kind": "Status", "status": "Failure", "reason": "{_REASONS.get(status, "")}", '
        f'"code": {status}}}'
    )
    return HttpResponse(status, {}, body.encode())


_REASONS = {404: "NotFound", 409: "Conflict", 403: "Forbidden", 500: "InternalError"}
