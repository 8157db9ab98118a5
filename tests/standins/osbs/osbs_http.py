"""HTTP layer of the osbs-client 2.8.0 stand-in: osbs-client's retry policy over scripted faults.

osbs-client mounts urllib3's ``Retry`` on every request unless the
``Openshift`` object's ``retries_enabled`` is False: 8 retries, backoff
factor 4 (no wait after the first failure, then 8, 16, 32, 64 and 120 s
capped: 480 s in all). A refused connection is retried for every method;
a read timeout or a 408/5xx answer only for GET, PUT, POST and DELETE, so
PATCH (cancel) is not. When the retries run out on a status, the last answer
is returned (raise_on_status=False); on a connection error, the error
surfaces. A timeout costs the request timeout (600 s) each time.
"""

import json

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


def _retryable(method, fault):
    if fault == fake_openshift.REFUSED:
        return True
    if method.upper() not in HTTP_RETRIES_METHODS_WHITELIST:
        return False
    return fault == fake_openshift.TIMEOUT or fault in HTTP_RETRIES_STATUS_FORCELIST


def attempt_request(url, method, retries_enabled=True):
    """Make the request's attempts; None when one got through, else the final failing status.

    Connection errors and timeouts that outlast the retries are raised the
    way osbs-client's HttpSession wraps them.
    """
    cluster = fake_openshift.current()
    failures = 0
    while True:
        fault = cluster.http_attempt(method.upper(), url)
        if fault is None:
            return None
        if fault == fake_openshift.TIMEOUT:
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
        cause = requests.ConnectionError(f"{url}: [Errno 111] Connection refused")
        raise OsbsException(cause=cause)
    if fault == fake_openshift.TIMEOUT:
        cause = requests.ReadTimeout(
            f"{url}: Read timed out. (read timeout={HTTP_REQUEST_TIMEOUT})"
        )
        raise OsbsNetworkException(url, str(cause), "", cause=cause)
    return fault
