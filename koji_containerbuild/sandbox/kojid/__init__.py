"""The kojid stand-in: a worker that takes tasks and forks task processes."""
