"""irelab's optional dependency groups, checked where a command needs one.

The core install (case, simulate, plan, deliver) is slim; the research registry and its outcome
analysis (``irelab[registry]``), the image readers and writers (``irelab[imaging]``) and other
groups declared in ``pyproject.toml`` are extras. A command that needs an extra that is not
installed stops with one line saying what to install (a :class:`MissingDependencyError`, an
:class:`~irelab.errors.InputError`: exit code 2, like any input the command cannot work with),
never with a traceback from deep inside an import.

Which distributions make up an extra is read from the installed package's own metadata, so the
groups are declared once, in ``pyproject.toml``.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from types import ModuleType

from irelab.errors import InputError as _InputError

__all__ = ["MissingDependencyError", "extra_requirements", "require", "require_extra"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


class MissingDependencyError(_InputError):
    """An optional library is not installed; the message says how to install it."""

    def __init__(self, extra: str, missing: list[str], what: str) -> None:
        names = ", ".join(repr(name) for name in missing)
        super().__init__(
            f"irelab[{extra}]", "",
            f"the Python package{'s' if len(missing) > 1 else ''} {names} for {what} "
            f"(install irelab[{extra}]: pip install 'irelab[{extra}]')")
        self.extra = extra
        self.missing = tuple(missing)


def extra_requirements(extra: str) -> list[str]:
    """The distribution names the installed irelab declares for ``extra`` (empty if none)."""
    try:
        requirements = metadata.requires("irelab") or []
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return []
    names = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        if extra in _EXTRA_MARKER.findall(marker):
            names.append(_NAME.match(spec.strip()).group(0))
    return names


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` unless every distribution of ``extra`` is installed.

    Nested extras (``irelab[imaging]`` inside ``dev``) are checked through their own names.
    """
    missing = []
    for name in extra_requirements(extra):
        if name.lower() == "irelab":
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise MissingDependencyError(extra, missing, what)


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra`` and ``what``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(extra, [module.split(".")[0]], what) from None
