"""The `irelab ecg` command (not yet built: registers nothing)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's command(s) to the main app."""
