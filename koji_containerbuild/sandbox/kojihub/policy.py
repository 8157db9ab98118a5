"""Hub policies written as koji.policy rule text, with the tests kojihub offers.

A policy such as the ``tag`` policy is given to the sandbox hub as the rule
text an admin writes in hub.conf (``has_perm admin :: allow``); it is parsed
by koji.policy and run with the subset of kojihub's policy tests the
sandbox's calls need. The tests read their facts from the sandbox hub's
database, as kojihub's read them from its own.
"""

from __future__ import annotations

import fnmatch

import koji
import koji.policy
from koji.context import context

from koji_containerbuild.sandbox.kojihub.api_base import current


def _user(data: dict) -> dict | None:
    """The user the policy is about: data's user_id, else the caller."""
    user_id = data.get("user_id")
    if user_id is None and context.session.logged_in:
        user_id = context.session.user_id
    if user_id is None:
        return None
    if isinstance(user_id, str):
        return current().db.one("SELECT * FROM users WHERE name = ?", (user_id,))
    return current().db.one("SELECT * FROM users WHERE id = ?", (user_id,))


def _tag_name(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id", value.get("name"))
    column = "name" if isinstance(value, str) else "id"
    row = current().db.one(f"SELECT name FROM tags WHERE {column} = ?", (value,))
    return row["name"] if row else None


def _build(data: dict) -> dict:
    value = data.get("build")
    if isinstance(value, dict):
        value = value.get("id")
    row = current().db.one(
        "SELECT b.id, b.owner_id, p.name FROM builds b JOIN packages p ON p.id = b.package_id "
        "WHERE b.id = ?",
        (value,),
    )
    if row is None:
        raise koji.GenericError(f"No such build: {value}")
    return row


class HasPermTest(koji.policy.BaseSimpleTest):
    """The user has a permission matching one of the patterns."""

    name = "has_perm"

    def run(self, data):
        user = _user(data)
        if user is None:
            return False
        perms = [
            r["name"]
            for r in current().db.all(
                "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id "
                "WHERE up.user_id = ?",
                (user["id"],),
            )
        ]
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(perm, pattern) for perm in perms for pattern in patterns)


class OperationTest(koji.policy.MatchTest):
    name = "operation"
    field = "operation"


class MethodTest(koji.policy.MatchTest):
    """The task's method (kojihub's MethodTest, used by channel policies)."""

    name = "method"
    field = "method"


class TagTest(koji.policy.MatchTest):
    name = "tag"
    field = "_tagname"
    source = "tag"

    def run(self, data):
        name = _tag_name(data.get(self.source))
        if name is None:
            return False
        data[self.field] = name
        return super().run(data)


class FromTagTest(TagTest):
    name = "fromtag"
    source = "fromtag"


class UserTest(koji.policy.MatchTest):
    name = "user"
    field = "_username"

    def run(self, data):
        user = _user(data)
        if user is None:
            return False
        data[self.field] = user["name"]
        return super().run(data)


class PackageTest(koji.policy.MatchTest):
    name = "package"
    field = "_package"

    def run(self, data):
        if "package" in data:
            data[self.field] = data["package"]
        else:
            data[self.field] = _build(data)["name"]
        return super().run(data)


class ChildTaskTest(koji.policy.BoolTest):
    """The task has a parent task."""

    name = "is_child_task"
    field = "parent"


class IsBuildOwnerTest(koji.policy.BaseSimpleTest):
    name = "is_build_owner"

    def run(self, data):
        user = _user(data)
        return user is not None and _build(data)["owner_id"] == user["id"]


class IsChildTaskTest(koji.policy.BoolTest):
    """The task being created is a subtask (kojihub's is_child_task)."""

    name = "is_child_task"
    field = "parent"


#: koji.policy's generic tests (all, none, true, false, has, bool, match, compare) and ours.
TESTS = koji.policy.findSimpleTests([vars(koji.policy), globals()])


def compile_rules(text: str) -> koji.policy.SimpleRuleSet:
    """Parse hub.conf-style policy rules; a bad rule fails here, as at hub start."""
    return koji.policy.SimpleRuleSet(text.splitlines(), TESTS)


def looks_like_rules(policy: str) -> bool:
    return "::" in policy


def assert_policy(name: str, data: dict, default: str = "deny") -> None:
    """Refuse with kojihub's sentence unless the named policy allows (check_policy, strict)."""
    hub = current()
    result = hub.evaluate_policy(name, data)
    if name not in hub.policies or hub.policies[name] is None:
        result, reason = "allow", "missing policy"  # hub.conf MissingPolicyOk = True
    elif result is None:
        result, reason = default, "not covered by policy"
    else:
        result, _, reason = result.partition(" ")
        result = result.lower()
    if result == "allow":
        return
    if result != "deny":
        reason = "error in policy"
    message = f"policy violation ({name})"
    if reason:
        message += f": {reason.strip()}"
    raise koji.ActionNotAllowed(message)
