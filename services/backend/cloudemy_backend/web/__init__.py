"""The built-in web UI: static files served at ``/`` with strict security headers."""

from cloudemy_backend.web.router import router

__all__ = ["router"]
