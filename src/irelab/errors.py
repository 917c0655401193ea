"""Errors that irelab reports to people, each naming where the bad input was and what was expected.

Every command catches :class:`InputError` and prints its one-sentence message to stderr with
exit code 2; library callers get the structured fields.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputError", "parse_yaml_text", "read_text_input", "read_yaml_input"]


class InputError(ValueError):
    """Bad input: a malformed file, an impossible geometry, an out-of-range value.

    Parameters
    ----------
    source
        The file (or stream, or record) the bad value came from, e.g. ``"case.yaml"``.
    key
        Where in that source: a dotted key path such as ``"probes[1].tip_mm"``, a CSV
        row and column, or a header field. Empty when the whole source is bad.
    expected
        What was expected, in words a person can act on ("a number between 0 and 3000 V").
    got
        What was found instead (optional; omitted when it would leak patient data).
    """

    def __init__(self, source: str, key: str, expected: str, got: object = None) -> None:
        self.source = str(source)
        self.key = key
        self.expected = expected
        self.got = got
        where = f"{self.source}: {key}" if key else self.source
        message = f"{where}: expected {expected}"
        if got is not None:
            message += f", got {got!r}"
        super().__init__(message)


def read_text_input(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """The text of the input file ``path`` (``what`` it should be, e.g. "case file (YAML)");
    a file that cannot be read or decoded is one :class:`InputError`."""
    source = str(path)
    try:
        return Path(path).read_text(encoding=encoding)
    except OSError as exc:
        raise InputError(source, "", f"a readable {what}", exc.strerror) from None
    except UnicodeDecodeError:
        raise InputError(source, "", "a UTF-8 text file") from None


def read_yaml_input(path: str | Path, what: str) -> object:
    """The parsed YAML of the input file ``path``; malformed YAML is one :class:`InputError`
    naming the line."""
    return parse_yaml_text(read_text_input(path, what), str(path))


def parse_yaml_text(text: str, source: str) -> object:
    """``text`` parsed as YAML; malformed YAML is one :class:`InputError` naming ``source`` and
    the line."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InputError(source, where, "valid YAML", getattr(exc, "problem", None)) from None
