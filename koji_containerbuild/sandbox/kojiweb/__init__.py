"""The kojiweb stand-in: task and build pages."""
