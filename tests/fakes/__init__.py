"""Test doubles that speak the real protocols over 127.0.0.1: Redis, Kubernetes API, OpenAI."""
