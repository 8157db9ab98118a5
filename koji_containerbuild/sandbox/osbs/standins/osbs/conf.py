"""Configuration of the osbs-client 2.8.0 stand-in: reads osbs.conf like the real one."""

import configparser
import os

from osbs.constants import DEFAULT_CONFIGURATION_FILE, GENERAL_CONFIGURATION_SECTION


class Configuration:
    def __init__(
        self,
        conf_file=DEFAULT_CONFIGURATION_FILE,
        conf_section=GENERAL_CONFIGURATION_SECTION,
        cli_args=None,
        **kwargs,
    ):
        self.scp = configparser.ConfigParser()
        if conf_file and os.path.isfile(conf_file) and os.access(conf_file, os.R_OK):
            self.scp.read(conf_file)
        self.conf_file = conf_file
        self.conf_section = conf_section
        self.args = cli_args
        self.kwargs = kwargs

    def _get_value(self, key, section, default=None):
        if self.kwargs.get(key) is not None:
            return self.kwargs[key]
        if getattr(self.args, key, None) is not None:
            return getattr(self.args, key)
        try:
            return self.scp.get(section, key)
        except configparser.Error:
            return default

    def get_default_buildtime_limit(self):
        return int(self._get_value("default_buildtime_limit", self.conf_section, 10800))

    def get_max_buildtime_limit(self):
        return int(self._get_value("max_buildtime_limit", self.conf_section, 21600))

    def get_verbosity(self):
        value = self._get_value("verbose", GENERAL_CONFIGURATION_SECTION, False)
        return str(value).lower() in ("1", "true", "yes")

    def get_openshift_base_uri(self):
        return self._get_value("openshift_url", self.conf_section)

    def get_namespace(self):
        return self._get_value("namespace", self.conf_section)
