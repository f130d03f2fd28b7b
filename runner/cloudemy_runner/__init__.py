"""Cloudemy runner: grades one submission inside its Kubernetes Job (``python -m cloudemy_runner``)."""

__version__ = "0.1.0"
