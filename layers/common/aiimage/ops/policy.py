"""Safety levers of the abuse playbook: tighten an event's policy (`allow_custom_prompt`,
`allowed_style_keys`), and add words to the global `blocked_terms` (one versioned write,
as the superadmin API does)."""

from __future__ import annotations

from collections.abc import Sequence

from aiimage.edits.catalog_store import catalog
from aiimage.ops.report import Report


def event_policy(
    tenant_id: str,
    event_slug: str,
    *,
    allow_custom_prompt: bool | None = None,
    include_prompt_in_manifest: bool | None = None,
    allowed_style_keys: Sequence[str] | None = None,
    enabled: bool | None = None,
    message: str | None = None,
) -> Report:
    store = catalog()
    event = store.get_event(tenant_id, event_slug)
    changes: dict[str, object] = {}
    if allow_custom_prompt is not None:
        changes["allow_custom_prompt"] = allow_custom_prompt
    if include_prompt_in_manifest is not None:
        changes["include_prompt_in_manifest"] = include_prompt_in_manifest
    if allowed_style_keys is not None:
        changes["allowed_style_keys"] = tuple(allowed_style_keys)
    if enabled is not None:
        changes["enabled"] = enabled
    if message is not None:
        changes["policy_message"] = message or None
    policy = event.ai_editing.model_copy(update=changes)
    updated = store.put_event_policy(tenant_id, event_slug, policy).ai_editing
    report = Report("event-policy", verb="changed")
    report.found, report.changed = 1, int(updated != event.ai_editing)
    report.note = (
        f"{tenant_id}/{event_slug}: enabled={updated.enabled} "
        f"allow_custom_prompt={updated.allow_custom_prompt} "
        f"include_prompt_in_manifest={updated.include_prompt_in_manifest} "
        f"allowed_style_keys={list(updated.allowed_style_keys) or 'all active'}"
    )
    return report


def add_blocked_terms(terms: Sequence[str]) -> Report:
    store = catalog()
    current = store.get_settings()
    # Added to the list in force (the baseline until a list is configured), which the
    # stored list then replaces.
    in_force = current.terms_in_force()
    merged = tuple(dict.fromkeys([*in_force, *(t.strip() for t in terms if t.strip())]))
    report = Report("blocked-terms", verb="added")
    report.found = len(terms)
    report.changed = len(merged) - len(in_force)
    if report.changed:
        store.update_settings({"blocked_terms": list(merged)}, expected_version=current.version)
    report.note = f"{len(merged)} blocked terms"
    return report
