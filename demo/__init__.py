"""Run the whole Cloudemy platform on one machine: `make demo` (or `python -m demo`)."""
