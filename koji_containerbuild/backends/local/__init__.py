"""The local backend: buildah, a registry, and a runner that outlives the task."""
