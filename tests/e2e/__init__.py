"""End-to-end tests: the real plugins, koji CLI and ClientSession against the sandbox."""
