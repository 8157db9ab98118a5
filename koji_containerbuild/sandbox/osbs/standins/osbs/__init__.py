"""Stand-in for osbs-client 2.8.0: same module layout, signatures and behaviour.

The "server" behind it is :class:`fake_openshift.FakeOpenShift`, which tests
script (log lines per task, final state, results, faults) and inspect.
"""

__version__ = "2.8.0"
