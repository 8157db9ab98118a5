"""The kojihub stand-in: SQLite state, the Koji API the plugins use, real hub plugins."""
