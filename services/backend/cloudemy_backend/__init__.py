"""Cloudemy backend: public API, internal result API, MongoDB storage and the Redis queue."""

__version__ = "0.1.0"
