"""See SPEC.md; built by its issue."""
