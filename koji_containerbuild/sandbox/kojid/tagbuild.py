"""kojid's own tagBuild task, which the sandbox worker runs next to the plugin's tasks.

``koji tag-build`` asks the hub for a tagBuild task; kojid's TagBuildTask
then tags as the task's owner with ``host.tagBuild`` (where the hub runs the
tag policy and the preTag/postTag callbacks) and reports with
``host.tagNotification``, the failure text included when tagging failed.
"""

from __future__ import annotations

import sys

from koji.tasks import BaseTaskHandler


class TagBuildTask(BaseTaskHandler):
    """Tag a build as the task's owner, as kojid does."""

    Methods = ["tagBuild"]

    def handler(self, tag_id, build_id, force=False, fromtag=None, ignore_success=False):
        owner = self.session.getTaskInfo(self.id)["owner"]
        try:
            self.session.getBuild(build_id, strict=True)
            self.session.getTag(tag_id, strict=True)
            self.session.host.tagBuild(self.id, tag_id, build_id, force=force, fromtag=fromtag)
            self.session.host.tagNotification(
                True, tag_id, fromtag, build_id, owner, ignore_success
            )
        except Exception:
            kind, value = sys.exc_info()[:2]
            self.session.host.tagNotification(
                False, tag_id, fromtag, build_id, owner, ignore_success, f"{kind}: {value}"
            )
            raise


#: kojid's built-in handlers the sandbox runs, by method.
BUILTIN_HANDLERS = {method: TagBuildTask for method in TagBuildTask.Methods}
