"""Routes of procedures and of their treatments (which tumour was ablated in which session)."""

from __future__ import annotations

from irelab.registry.resources import RESOURCES
from irelab.registry.routers._crud import crud_router

router = crud_router(RESOURCES["procedures"], parent_filters=("patient_id",))
treatments_router = crud_router(
    RESOURCES["treatments"], parent_filters=("patient_id", "procedure_id")
)
