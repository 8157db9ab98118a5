"""The OSBS backend's transient faults and what bounds a call (backends/osbs/backend.py).

Against the osbs-client 2.8 stand-in: a create that never reached OSBS is
retried, one that may have reached it is not sent again, and retry_seconds
bounds the retries.
"""

from __future__ import annotations

import re

import pytest
import requests

from koji_containerbuild.backends.base import BackendError, Outcome, TransientBackendError
from koji_containerbuild.sandbox.osbs.harness import binary_request, make_backend

# -- transient faults ----------------------------------------------------------


def connection_refused(osbs_exceptions):
    """What osbs-client raises for a refused connection (requests' error as its cause)."""
    from osbs.osbs_http import refused

    return osbs_exceptions.OsbsException(cause=refused("https://osbs.example.com/"))


@pytest.mark.parametrize("fault", ["connection", "http503"])
def test_create_that_never_reached_osbs_is_retried(backend, fake_osbs, clock, fault):
    from osbs import exceptions

    error = {
        "connection": connection_refused(exceptions),
        "http503": exceptions.OsbsResponseException(b'{"message": "unavailable"}', 503),
    }[fault]
    fake_osbs.fail("create_binary_container_build", error, error)
    handle = backend.start(binary_request())
    assert handle in fake_osbs.runs
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize("fault", ["network", "http502", "http504", "connection-aborted"])
def test_create_that_may_have_reached_osbs_is_not_sent_again(backend, fake_osbs, clock, fault):
    from osbs import exceptions

    error = {
        "network": exceptions.OsbsNetworkException("https://osbs", "Read timed out", ""),
        "http502": exceptions.OsbsResponseException(b'{"message": "bad gateway"}', 502),
        "http504": exceptions.OsbsResponseException(b'{"message": "gateway timeout"}', 504),
        "connection-aborted": exceptions.OsbsException(
            cause=requests.ConnectionError("('Connection aborted.', RemoteDisconnected())")
        ),
    }[fault]
    fake_osbs.fail("create_binary_container_build", error)
    with pytest.raises(TransientBackendError, match="may have started there anyway"):
        backend.start(binary_request())
    assert clock.sleeps == []


def test_create_whose_answer_was_lost_starts_no_second_build(backend, fake_osbs, clock):
    from fake_openshift import LOST

    fake_osbs.fail_http(LOST)
    with pytest.raises(TransientBackendError) as error:
        backend.start(binary_request())
    assert re.fullmatch(
        r"OSBS did not answer when asked to create the build \(\(\) HTTPSConnectionPool"
        r"\(host='osbs\.example\.com', port=443\): Read timed out\. \(read timeout=600\)\), "
        r"so a build for Koji task 4321 may have started there anyway; cancel it in OSBS if "
        r"it did, then submit the build again\.",
        str(error.value),
    )
    assert len(fake_osbs.created) == 1


def test_transient_faults_give_up_after_retry_seconds(backend, fake_osbs, clock):
    from osbs import exceptions

    fake_osbs.fail("create_binary_container_build", *[connection_refused(exceptions)] * 50)
    with pytest.raises(TransientBackendError, match=r"create the build for 60 seconds.*refused"):
        backend.start(binary_request())
    assert sum(clock.sleeps) == pytest.approx(60.0)
    assert fake_osbs.created == []


def test_transient_fault_while_reading_results_is_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    handle = backend.start(binary_request())
    fake_osbs.fail("get_build_results", exceptions.OsbsResponseException("gateway", 502))
    result = backend.wait(handle)
    assert result.outcome is Outcome.SUCCEEDED
    assert clock.sleeps == [1.0]


def test_client_error_is_not_retried(backend, fake_osbs, clock):
    from osbs import exceptions

    handle = backend.start(binary_request())
    fake_osbs.fail("wait_for_build_to_finish", exceptions.OsbsResponseException("forbidden", 403))
    with pytest.raises(BackendError, match="wait for the build: forbidden"):
        backend.wait(handle)
    assert clock.sleeps == []


# -- what bounds a call (retry_seconds) ------------------------------------------------


def test_retry_seconds_bounds_a_create_against_refused_connections(fake_osbs, osbs_conf, clock):
    # osbs-client alone would retry each request for 480 s before the backend saw a fault
    from fake_openshift import REFUSED

    backend = make_backend(osbs_conf, clock, retry_seconds=30.0)
    fake_osbs.fail_http(REFUSED, times=1000)
    started = clock.now
    with pytest.raises(TransientBackendError, match="for 30 seconds"):
        backend.start(binary_request())
    assert clock.now - started == pytest.approx(30.0)
    assert fake_osbs.sleeps == []  # no waits inside osbs-client
    assert fake_osbs.created == []


def test_a_request_that_times_out_runs_to_its_end_past_retry_seconds(fake_osbs, osbs_conf, clock):
    # the one bound beyond retry_seconds: an attempt lasts up to osbs-client's 600 s timeout
    from fake_openshift import TIMEOUT

    backend = make_backend(osbs_conf, clock, retry_seconds=30.0)
    fake_osbs.fail_http(TIMEOUT, times=1000)
    started = clock.now
    with pytest.raises(TransientBackendError):
        backend.lookup("demo-image-old")
    assert clock.now - started == pytest.approx(600.0)


def test_refused_connections_while_waiting_are_retried_by_the_backend(backend, fake_osbs, clock):
    from fake_openshift import REFUSED

    handle = backend.start(binary_request())
    fake_osbs.fail_http(REFUSED, times=3)
    assert backend.wait(handle).outcome is Outcome.SUCCEEDED
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert fake_osbs.sleeps == []
