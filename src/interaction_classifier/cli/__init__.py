"""The command line (typer): one module per command group; ``main.app`` is the entry point."""
