"""The OSBS backend (osbs-client)."""
