"""osbs.utils.labels of the osbs-client 2.8.0 stand-in: the label names OSBS reads."""


class Labels:
    """A Dockerfile's labels by meaning, each under its current or its old name."""

    LABEL_TYPE_NAME = "name"
    LABEL_TYPE_VERSION = "version"
    LABEL_TYPE_RELEASE = "release"
    LABEL_TYPE_COMPONENT = "component"
    LABEL_NAMES = {
        LABEL_TYPE_NAME: ("name", "Name"),
        LABEL_TYPE_VERSION: ("version", "Version"),
        LABEL_TYPE_RELEASE: ("release", "Release"),
        LABEL_TYPE_COMPONENT: ("com.redhat.component", "BZComponent"),
    }

    def __init__(self, df_labels):
        self._df_labels = df_labels
        self._label_values = {}
        for label_type, names in self.LABEL_NAMES.items():
            for name in names:
                if name in df_labels:
                    self._label_values[label_type] = (name, df_labels[name])
                    break

    def get_name(self, label_type):
        found = self._label_values.get(label_type)
        return found[0] if found else self.LABEL_NAMES[label_type][0]

    def get_name_and_value(self, label_type):
        """(label name, value); KeyError when the Dockerfile has none of its names."""
        if label_type in self._label_values:
            return self._label_values[label_type]
        return label_type, self._df_labels[label_type]
