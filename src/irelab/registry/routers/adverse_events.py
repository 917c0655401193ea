"""Routes of the ``adverse_events`` resource (create, read, update with version, retire)."""

from __future__ import annotations

from irelab.registry.resources import RESOURCES
from irelab.registry.routers._crud import crud_router

router = crud_router(RESOURCES["adverse_events"], parent_filters=("patient_id", "procedure_id"))
