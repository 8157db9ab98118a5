"""Promotion and signing: a build tagged into a release tag goes to production, signed.

``hubside`` is what the hub plugin's postTag callback runs; ``task`` is the
builder's promoteContainer flow, over ``registry`` (skopeo) and ``signing``.
"""
