"""Routes of the ``followups`` resource (create, read, update with version, retire)."""

from __future__ import annotations

from irelab.registry.routers._crud import crud_router
from irelab.registry.service import RESOURCES

router = crud_router(RESOURCES["followups"], parent_filters=("patient_id",))
