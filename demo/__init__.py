"""The demo `make run` starts: seeding lives here, outside the `metering` package it drives."""
