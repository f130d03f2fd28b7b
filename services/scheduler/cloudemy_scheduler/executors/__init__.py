"""Executors run runner Jobs: ``kubernetes`` (the real thing) or ``local`` (subprocesses, for the demo and tests)."""
