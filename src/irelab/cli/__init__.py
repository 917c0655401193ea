"""The ``irelab`` command line: thin Typer commands over the library."""
