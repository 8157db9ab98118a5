"""kojid plugin: run buildContainer, buildContainerArch, buildSourceContainer and promoteContainer
tasks.

Thin task handlers; the task flow lives in koji_containerbuild.builder.flow.
Enable with ``plugins = builder_containerbuild`` in kojid.conf; the plugin's
own settings are in /etc/kojid/plugins/builder_containerbuild.conf.
"""

from koji.tasks import BaseTaskHandler

from koji_containerbuild import xmlsafe
from koji_containerbuild.builder import flow
from koji_containerbuild.builder.context import TaskContext
from koji_containerbuild.promote import task as promote


class _ContainerTask(BaseTaskHandler):
    # A container build mostly waits on the backend and uploads logs, but it
    # also checks out the source and, with the local backend, builds here.
    _taskWeight = 2.0

    def _context(self):
        return TaskContext(
            task_id=self.id,
            session=self.session,
            options=self.options,
            workdir=self.workdir,
            upload_dir=self.getUploadDir(),
            run_callbacks=getattr(self, "run_callbacks", None),
            wait=self.wait,
        )

    def _run(self, step, *args):
        # every result and fault text leaves through here, made XML-safe
        return xmlsafe.reported(step, self._context(), *args)


class BuildContainerTask(_ContainerTask):
    """Build a layered container image (or a flatpak with opts.flatpak)."""

    Methods = ["buildContainer"]

    def handler(self, src, target, opts=None):
        return self._run(flow.build_container, src, target, opts)


class BuildContainerArchTask(_ContainerTask):
    """Build one arch of a multi-arch container build (a subtask of buildContainer)."""

    Methods = ["buildContainerArch"]

    def handler(self, src, target, arch, opts=None):
        return self._run(flow.build_container_arch, src, target, arch, opts)


class BuildSourceContainerTask(_ContainerTask):
    """Build a source container image for an existing image build."""

    Methods = ["buildSourceContainer"]

    def handler(self, target, opts=None):
        return self._run(flow.build_source_container, target, opts)


class PromoteContainerTask(_ContainerTask):
    """Copy an image build tagged into a release tag to production, signed."""

    Methods = ["promoteContainer"]
    # skopeo copies and signs: mostly waiting on the registries
    _taskWeight = 1.0

    def handler(self, build_id, tag, rule):
        return self._run(promote.promote_container, build_id, tag, rule)
