"""`kill-switch on|off`: the global `is_enabled` of the AI Editing Settings, with the
`status_message` callers see (`feature_disabled`). One conditional write on the settings'
version, as the superadmin API does; the function's settings cache expires within
`EDITS_SETTINGS_CACHE_SECONDS`."""

from __future__ import annotations

from aiimage.edits.catalog_store import catalog
from aiimage.ops.report import Report


def kill_switch(
    state: bool, *, message: str | None = None, messages: dict[str, str] | None = None
) -> Report:
    """`state=True` switches AI editing OFF (the kill switch is on). `messages`: the text by
    language (`status_messages`); switching on again clears both."""
    store = catalog()
    current = store.get_settings()
    changes: dict[str, object] = {"is_enabled": not state}
    if message is not None or not state:
        changes["status_message"] = message if state else None
    if messages or not state:
        changes["status_messages"] = (messages or {}) if state else {}
    updated = store.update_settings(changes, expected_version=current.version)
    report = Report("kill-switch", verb="changed")
    report.found = 1
    report.changed = int(current.is_enabled != updated.is_enabled)
    report.note = (
        f"AI editing is {'OFF' if not updated.is_enabled else 'ON'}"
        + (f" ({updated.status_message!r})" if updated.status_message else "")
        + f", settings version {updated.version}"
    )
    return report
