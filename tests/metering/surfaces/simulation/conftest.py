"""The CLI's database fixture, shared with the CLI tests."""

from tests.metering.surfaces.cli.conftest import cli_database

__all__ = ["cli_database"]
