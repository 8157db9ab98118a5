"""Build layered container images in Koji."""

import logging

__version__ = "2.0.0"

#: Root of the package's logger tree; modules log to children of it.
LOGGER_NAME = "koji.plugin.containerbuild"

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
