"""Each subpackage's ``__all__`` lists exactly its public names, and the root re-exports them.

Every subpackage named in ``irelab.SUBPACKAGES`` must be importable: a listed subpackage that is
missing (or a directory without ``__init__.py``) fails here rather than being skipped, so the
root never silently re-exports less than it documents.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import irelab

#: Packages under irelab that are not part of the re-exported API.
NOT_REEXPORTED = {"cli"}


def _load(name: str) -> ModuleType:
    module = importlib.import_module(f"irelab.{name}")
    if getattr(module, "__file__", None) is None:
        pytest.fail(f"irelab.{name} is a directory without __init__.py, not a package")
    if not hasattr(module, "__all__"):
        pytest.fail(f"irelab.{name} does not declare __all__")
    return module


@pytest.mark.parametrize("name", irelab.SUBPACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = _load(name)
    declared = set(module.__all__)
    public = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(obj)
        and n not in {"annotations"}
        and getattr(obj, "__module__", module.__name__).startswith("irelab")
    }
    assert declared == public, f"irelab.{name}.__all__ differs from its public names"
    for n in declared:
        assert getattr(irelab, n) is getattr(module, n)


def test_every_subpackage_is_listed() -> None:
    found = {m.name for m in pkgutil.iter_modules(irelab.__path__)} - NOT_REEXPORTED
    assert found == set(irelab.SUBPACKAGES)


def test_no_name_is_exported_by_two_subpackages() -> None:
    owner: dict[str, str] = {}
    for name in irelab.SUBPACKAGES:
        for public in _load(name).__all__:
            assert public not in owner, f"{public} is in irelab.{owner[public]} and irelab.{name}"
            owner[public] = name


def test_root_all_is_union_of_subpackages() -> None:
    union = set()
    for name in irelab.SUBPACKAGES:
        union |= set(_load(name).__all__)
    assert set(irelab.__all__) == union
    assert union <= set(dir(irelab))


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        irelab.no_such_name  # noqa: B018


def test_input_error_names_source_key_and_expectation() -> None:
    err = irelab.InputError("case.yaml", "protocol.pairs[0].voltage_V", "0-3000 V", 5000)
    assert str(err) == "case.yaml: protocol.pairs[0].voltage_V: expected 0-3000 V, got 5000"
