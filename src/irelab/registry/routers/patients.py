"""Routes of the ``patients`` resource (create, read, update with version, retire)."""

from __future__ import annotations

from irelab.registry.resources import RESOURCES
from irelab.registry.routers._crud import crud_router

router = crud_router(RESOURCES["patients"], parent_filters=())
