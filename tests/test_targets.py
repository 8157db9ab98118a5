"""A target whose destination tag is gone: one sentence, on the CLI side and the builder side."""

import koji
import pytest

from koji_containerbuild.builder import checks
from koji_containerbuild.cli import commands as cli

MISSING = (
    "The destination tag 'demo-candidate' of target 'demo' does not exist; ask a Koji admin "
    "to fix the target."
)


class DeletedDestTag:
    """A sandbox hub session on which the target's destination tag was deleted.

    kojihub keeps a deleted tag's id and name in the targets naming it, and
    getTag answers None for it; the sandbox hub cannot delete tags.
    """

    def __init__(self, session):
        self._session = session
        self._deleted = session.getBuildTarget("demo")["dest_tag"]

    def getTag(self, info, **kwargs):
        if info == self._deleted:
            return None
        return self._session.getTag(info, **kwargs)

    def __getattr__(self, name):
        return getattr(self._session, name)


@pytest.fixture
def session(sandbox_hub):
    return DeletedDestTag(sandbox_hub.session("builder"))


def test_cli_refuses_a_target_without_destination_tag(session):
    with pytest.raises(cli.UsageError) as refused:
        cli.check_target(session, "demo", scratch=True)
    assert str(refused.value) == MISSING


def test_builder_refuses_a_target_without_destination_tag(session):
    with pytest.raises(koji.BuildError) as refused:
        checks.resolve_target(session, "demo")
    assert str(refused.value) == MISSING
