"""Each subpackage's ``__all__`` lists exactly its public names, and the root re-exports them."""

from __future__ import annotations

import importlib
import inspect

import pytest

import irelab


def _present_subpackages() -> list[str]:
    return [s for s in irelab.SUBPACKAGES if irelab._subpackage(s) is not None]


@pytest.mark.parametrize("name", _present_subpackages())
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(f"irelab.{name}")
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


def test_root_all_is_union_of_subpackages() -> None:
    union = set()
    for name in _present_subpackages():
        union |= set(importlib.import_module(f"irelab.{name}").__all__)
    assert set(irelab.__all__) == union


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        irelab.no_such_name  # noqa: B018


def test_input_error_names_source_key_and_expectation() -> None:
    err = irelab.InputError("case.yaml", "protocol.pairs[0].voltage_V", "0-3000 V", 5000)
    assert str(err) == "case.yaml: protocol.pairs[0].voltage_V: expected 0-3000 V, got 5000"
