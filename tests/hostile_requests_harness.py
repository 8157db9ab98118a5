"""The corpus of hostile requests' shared pieces: a refusal's bound, MB, build options.

Shared by tests/test_hostile_requests*.py.
"""

from __future__ import annotations

#: Longest refusal accepted: a sentence or a few, never the input echoed back.
MAX_SENTENCES = 2000


MB = 1024 * 1024


def _opts(**extra):
    return {"git_branch": "main", **extra}
