"""The `marginbot` command line: one module per command group, wired statically in bot/cli/main.py."""
