"""Contracts shared by the Cloudemy backend, scheduler and runner (see SPEC.md)."""

__version__ = "0.1.0"
