"""The `daka` command line."""
