"""HTTP response class of the osbs-client 2.8.0 stand-in (what Openshift.get returns)."""

import json

from osbs.exceptions import OsbsResponseException


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
