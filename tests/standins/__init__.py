"""Stand-ins for services that cannot be installed here (osbs-client/OpenShift).

``tests/standins`` goes on ``sys.path`` (see :mod:`tests.standins.osbs_fixture`)
so that ``import osbs`` finds the fake package instead of osbs-client.
"""
