"""Backend log lines into Koji task logs: lines, files, uploads, streaming."""
