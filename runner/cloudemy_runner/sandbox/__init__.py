"""The sandbox every student program runs in, inside the runner's Job (see docs/sandbox.md)."""
