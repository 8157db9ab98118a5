"""Constants of the osbs-client 2.8.0 stand-in (same names and values as osbs.constants)."""

import re

DEFAULT_CONFIGURATION_FILE = "/etc/osbs.conf"
DEFAULT_CONF_BINARY_SECTION = "default_binary"
DEFAULT_CONF_SOURCE_SECTION = "default_source"
GENERAL_CONFIGURATION_SECTION = "general"
DEFAULT_NAMESPACE = "default"
USER_WARNING_LEVEL = 25
USER_WARNING_LEVEL_NAME = "USER_WARNING"
RAND_DIGITS = 5
REPO_CONTAINER_CONFIG = "container.yaml"

# osbs_http: urllib3 Retry(total=connect=read=8, backoff_factor=4, status_forcelist=...,
# method_whitelist=...), and every request's timeout
HTTP_MAX_RETRIES = 8
HTTP_BACKOFF_FACTOR = 4
HTTP_RETRIES_STATUS_FORCELIST = [408, 500, 502, 503, 504]
HTTP_RETRIES_METHODS_WHITELIST = ["GET", "PUT", "POST", "DELETE"]
HTTP_REQUEST_TIMEOUT = 600

# utils.retry_on_conflict (cancel_pipeline_run): 409 retried 8 times, 5 * 2**n s apart
OS_CONFLICT_MAX_RETRIES = 8
OS_CONFLICT_WAIT = 5

# utils.clone_git_repo: a failed clone is retried 3 times, 60 * 2**n s apart
GIT_MAX_RETRIES = 3
GIT_BACKOFF_FACTOR = 60

ISOLATED_RELEASE_FORMAT = re.compile(r"^\d+\.\d+(\..+)?$")
RELEASE_LABEL_FORMAT = re.compile(r"^\d+([._]?[a-zA-Z0-9]+)*$")
VERSION_LABEL_FORBIDDEN_CHARS = ["-"]
