"""Stand-ins for services that cannot be installed here (osbs-client/OpenShift).

This directory goes on ``sys.path`` (see :mod:`koji_containerbuild.sandbox.osbs`)
so that ``import osbs`` finds the fake package instead of osbs-client.
"""
