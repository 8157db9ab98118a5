"""The koji CLI side: the container-build commands and the task watch."""
