"""Exception classes with the attributes osbs-client 2.8.0's carry."""

import json


class OsbsException(Exception):
    """Base error; ``cause`` is the wrapped exception, if any."""

    def __init__(self, message=None, cause=None, traceback=None):
        if message is None and cause is not None:
            message = str(cause)
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.traceback = traceback


class OsbsResponseException(OsbsException):
    """OpenShift answered with a status other than 200/201."""

    def __init__(self, message, status_code, *args, **kwargs):
        super().__init__(message, *args, **kwargs)
        self.status_code = status_code
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        try:
            self.json = json.loads(message)
        except (TypeError, ValueError):
            self.json = None


class OsbsNetworkException(OsbsException):
    """The HTTP layer failed."""

    def __init__(self, url, message, status_code, *args, **kwargs):
        super().__init__(f"({status_code}) {message}", *args, **kwargs)
        self.url = url
        self.status_code = status_code


class OsbsAuthException(OsbsException):
    pass


class OsbsValidationException(OsbsException):
    pass


class OsbsLocallyModified(OsbsException):
    pass


class OsbsCommitNotFound(OsbsException):
    pass
