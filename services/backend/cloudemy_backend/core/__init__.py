"""Configuration, security and logging shared by the backend's modules."""
