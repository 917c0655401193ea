"""The research registry: database (SQLAlchemy + Alembic), web service (FastAPI), web pages,
CSV import/export and the bridge to the outcome analysis.

Imports SQLAlchemy, pydantic and FastAPI; the numerical core never imports this package.
"""

from irelab.registry.app import create_app
from irelab.registry.database import Registry, upgrade_database
from irelab.registry.dictionary import data_dictionary
from irelab.registry.exchange import ImportRejected, export_table, import_table
from irelab.registry.service import RegistryError
from irelab.registry.study import load_study_data, store_study_data
from irelab.registry.terms import CIRSE_GRADES, CTCAE_TERMS

__all__ = [
    "CIRSE_GRADES",
    "CTCAE_TERMS",
    "ImportRejected",
    "Registry",
    "RegistryError",
    "create_app",
    "data_dictionary",
    "export_table",
    "import_table",
    "load_study_data",
    "store_study_data",
    "upgrade_database",
]
