"""The core install works without the optional groups, and a command that needs one says which.

The registry's libraries are hidden from a fresh interpreter (an entry of ``None`` in
``sys.modules`` makes ``import`` fail as for a package that is not installed), so these tests
check the real import graph of the core commands, not a list kept beside it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from irelab.extras import MissingDependencyError, extra_requirements, require, require_extra

#: Import names of the libraries of the ``irelab[registry]``, ``[imaging]`` and ``[robust]`` extras.
HIDDEN = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "pandas", "lifelines", "statsmodels",
          "jinja2", "bcrypt", "jwt", "psycopg", "multipart", "highdicom", "slicerio", "dask",
          "distributed", "SALib")


def _run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys\nfor name in {HIDDEN!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_core_subpackages_import_without_the_extras() -> None:
    done = _run_without_extras("""
        import irelab.case, irelab.simulation, irelab.plan, irelab.delivery, irelab.ecg
        import irelab.procedure, irelab.imaging, irelab.validation, irelab.robust, irelab.cli.main
        print("imported")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_a_registry_command_without_its_extra_names_what_to_install() -> None:
    """The check reads the installed metadata; a distribution reported missing stands in for
    an install without the extra."""
    done = _run_without_extras("""
        from importlib import metadata
        real = metadata.distribution
        def distribution(name):
            if name.lower() == "sqlalchemy":
                raise metadata.PackageNotFoundError(name)
            return real(name)
        metadata.distribution = distribution
        sys.argv = ["irelab", "registry", "init-db", "--database-url", "sqlite://"]
        from irelab.cli.main import main
        main()
    """)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert "pip install 'irelab[registry]'" in done.stderr
    assert "'sqlalchemy'" in done.stderr.lower()


def test_extras_are_read_from_the_package_metadata() -> None:
    registry = {name.lower() for name in extra_requirements("registry")}
    assert {"sqlalchemy", "fastapi", "lifelines", "statsmodels"} <= registry
    assert "numpy" not in registry
    assert extra_requirements("no-such-extra") == []
    require_extra("registry", "the test")  # installed in the test environment


def test_a_missing_module_raises_one_clear_error() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'irelab\[robust\]'"):
        require("irelab_no_such_package", "robust", "a test")
