"""Routes of the ``tumours`` resource (create, read, update with version, retire)."""

from __future__ import annotations

from irelab.registry.resources import RESOURCES
from irelab.registry.routers._crud import crud_router

router = crud_router(RESOURCES["tumours"], parent_filters=("patient_id",))
