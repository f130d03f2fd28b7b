"""Contracts shared by the Cloudemy backend, scheduler and runner (described in docs/architecture.md)."""

__version__ = "0.1.0"
