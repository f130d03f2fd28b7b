"""Cloudemy scheduler: reliable dequeue of submissions into runner Jobs, and the Job watcher (see docs/scheduler.md)."""

__version__ = "0.1.0"
