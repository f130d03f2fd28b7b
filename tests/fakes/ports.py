"""Free loopback ports for test servers."""

from demo.processes import free_port

__all__ = ["free_port"]
