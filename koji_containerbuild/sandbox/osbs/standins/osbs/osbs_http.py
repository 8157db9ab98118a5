"""HTTP layer of the osbs-client 2.8.0 stand-in: osbs-client's retry policy over scripted faults.

osbs-client mounts urllib3's ``Retry`` on every request unless the
``Openshift`` object's ``retries_enabled`` is False: 8 retries, backoff
factor 4 (no wait after the first failure, then 8, 16, 32, 64 and 120 s
capped: 480 s in all). A refused connection is retried for every method;
a read timeout or a 408/5xx answer only for GET, PUT, POST and DELETE, so
PATCH (cancel) is not. When the retries run out on a status, the last answer
is returned (raise_on_status=False); on a connection error, the error
surfaces, built as requests builds it (a refused connection is a
ConnectionError around urllib3's MaxRetryError around NewConnectionError).
A timeout costs the request timeout (600 s) each time; a lost answer is a
timeout after the server did the request.
"""

import json
from urllib.parse import urlparse

import fake_openshift
import requests
from osbs.constants import (
    HTTP_BACKOFF_FACTOR,
    HTTP_MAX_RETRIES,
    HTTP_REQUEST_TIMEOUT,
    HTTP_RETRIES_METHODS_WHITELIST,
    HTTP_RETRIES_STATUS_FORCELIST,
)
from osbs.exceptions import OsbsException, OsbsNetworkException, OsbsResponseException
from urllib3.exceptions import MaxRetryError, NewConnectionError

_BACKOFF_MAX = 120  # urllib3's cap on one backoff


class HttpResponse:
    """A finished response: ``status_code``, ``headers`` and the raw ``content`` bytes."""

    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self, check=True):
        text = self.content.decode("utf-8")
        if check and self.status_code not in (0, 200, 201):
            raise OsbsResponseException(text, self.status_code)
        try:
            return json.loads(text)
        except ValueError:
            raise OsbsResponseException(f"corrupt json: {text!r}", self.status_code) from None


_TIMEOUTS = (fake_openshift.TIMEOUT, fake_openshift.LOST)


def _retryable(method, fault):
    if fault == fake_openshift.REFUSED:
        return True
    if method.upper() not in HTTP_RETRIES_METHODS_WHITELIST:
        return False
    return fault in _TIMEOUTS or fault in HTTP_RETRIES_STATUS_FORCELIST


class _Named:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


class _Pool:
    """Names the connection pool in urllib3's messages, as a real pool does."""

    def __init__(self, url):
        parsed = urlparse(url)
        self.text = f"HTTPSConnectionPool(host='{parsed.hostname}', port={parsed.port or 443})"

    def __str__(self):
        return self.text


def refused(url):
    """The exception a refused connection reaches osbs-client as: what requests raises."""
    reason = NewConnectionError(
        _Named("<urllib3.connection.HTTPSConnection object>"),
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    return requests.ConnectionError(MaxRetryError(_Pool(url), urlparse(url).path, reason))


def read_timeout(url):
    return requests.ReadTimeout(
        f"{_Pool(url)}: Read timed out. (read timeout={HTTP_REQUEST_TIMEOUT})"
    )


def attempt_request(url, method, retries_enabled=True, perform=None):
    """Make the request's attempts; None when one got through, else the final failing status.

    ``perform`` is what the server does for an attempt whose answer gets
    lost. Connection errors and timeouts that outlast the retries are raised
    the way osbs-client's HttpSession wraps them.
    """
    cluster = fake_openshift.current()
    failures = 0
    while True:
        fault = cluster.http_attempt(method.upper(), url)
        if fault is None:
            return None
        if fault == fake_openshift.LOST and perform is not None:
            perform()
        if fault in _TIMEOUTS:
            cluster.sleep(HTTP_REQUEST_TIMEOUT)
        failures += 1
        if not (retries_enabled and failures <= HTTP_MAX_RETRIES and _retryable(method, fault)):
            break
        backoff = (
            0 if failures <= 1 else min(_BACKOFF_MAX, HTTP_BACKOFF_FACTOR * 2 ** (failures - 1))
        )
        if backoff:
            cluster.sleep(backoff)
    if fault == fake_openshift.REFUSED:
        raise OsbsException(cause=refused(url))
    if fault in _TIMEOUTS:
        cause = read_timeout(url)
        raise OsbsNetworkException(url, str(cause), "", cause=cause)
    return fault
