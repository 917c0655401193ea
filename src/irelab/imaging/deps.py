"""The optional libraries of ``irelab[imaging]``, imported only when a reader or writer needs one.

highdicom (DICOM SEG) and slicerio (3D Slicer ``.seg.nrrd``) are not needed by the rest of
irelab, so ``import irelab.imaging`` works without them, and a command that needs one stops
with one line saying what to install (an :class:`~irelab.errors.InputError`: exit code 2, like
any input the command cannot work with).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from irelab.errors import InputError

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(InputError):
    """An optional library is not installed; the message says how to install it."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            "irelab[imaging]", "", f"the Python package {module.split('.')[0]!r} for {what} "
            "(install irelab[imaging]: pip install 'irelab[imaging]')") from None
