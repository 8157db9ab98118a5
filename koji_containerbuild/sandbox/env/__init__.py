"""The sandbox environment: layout, registry, git daemon, runtime and demo."""
