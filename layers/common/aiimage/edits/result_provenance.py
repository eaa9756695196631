"""A Magic Edit's C2PA manifest as JSON, for whoever may fetch its result: the guest who
asked for it, or an admin of the event's tenant (`access.visible_edit`; anyone else gets the
404 of a missing request). The same view as the Enhancer's provenance route."""

from __future__ import annotations

from aiimage.edits.access import visible_edit
from aiimage.edits.admission import Actor
from aiimage.edits.models import Event
from aiimage.errors import NotFoundError
from aiimage.imaging.provenance import ProvenanceView
from aiimage.storage.objects import object_store

__all__ = ["ProvenanceView", "edit_provenance"]

RESULT_TYPE = "image/webp"  # every Magic Edits result is stored as signed WebP


def edit_provenance(event: Event, actor: Actor, request_id: str) -> ProvenanceView:
    request = visible_edit(event, actor, request_id)
    if request.status != "succeeded" or request.result_key is None:
        raise NotFoundError("The edit has no result yet", code="no_result")
    key = request.result_key
    return ProvenanceView.of(key, object_store().read(key), RESULT_TYPE)
