"""The pages' text in German (the seed UI's language, the default) and English (`?lang=en`).

Keys used by the HTML templates are rendered on the server; keys prefixed `js.` travel to
the page's script in its config block (messages built at run time: errors, countdowns).
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["de", "en"]
LANGS: tuple[Lang, ...] = ("de", "en")
DEFAULT_LANG: Lang = "de"

MESSAGES: dict[Lang, dict[str, str]] = {
    "de": {
        "enhancer.title": "KI-Bildverbesserung",
        "enhancer.lead": "Bild hochladen, Modell wählen, „Verbessern“ klicken.",
        "usage.label": "Heute genutzt",
        "drop.title": "Bild hierher ziehen, einfügen (Strg+V) oder auswählen",
        "drop.button": "Bild auswählen",
        "drop.hint": "JPEG, PNG oder WebP, höchstens $max_mb MB",
        "model.legend": "Modell",
        "params.legend": "Einstellungen",
        "param.scale": "Vergrößerung",
        "param.face": "Gesichter verbessern",
        "param.prompt": "Beschreibung (optional)",
        "param.strength": "Stärke",
        "action.enhance": "Verbessern",
        "action.download": "Herunterladen",
        # Next to every result (EU AI Act, Art. 50): the file says it too (C2PA, XMP).
        "result.ai_label": "KI-generiert",
        "compare.original": "Original",
        "compare.result": "Ergebnis",
        "compare.slider": "Vergleich: Original links, Ergebnis rechts",
        "lang.switch": "English",
        "edits.title": "Magic Edits",
        "edits.lead": "Foto wählen, Stil wählen, Bearbeitung anfordern.",
        "edits.photos": "Fotos der Veranstaltung",
        "edits.upload": "Eigenes Foto hochladen",
        "edits.styles": "Stil",
        "edits.prompt": "Eigener Wunsch (optional, wenn die Veranstaltung es erlaubt)",
        "edits.request": "Bearbeitung anfordern",
        "edits.result": "Ergebnis",
        "edits.mine": "Meine Bearbeitungen",
        "compare.hint": "Trennlinie ziehen oder mit den Pfeiltasten verschieben",
        "format.label": "Format",
        "signin.label": "Demo-Anmeldung (nur lokal)",
        "signin.guest": "Gast",
        "signin.provider": "Anmelden",
        "signin.out": "Abmelden",
        "notfound.title": "Veranstaltung nicht gefunden",
        "notfound.text": "Diesen Veranstaltungslink gibt es nicht oder nicht mehr. Bitte prüfen "
        "Sie den Link oder fragen Sie den Veranstalter nach dem richtigen.",
        "js.noFile": "Bitte zuerst ein Bild wählen.",
        "js.badType": "Nur JPEG, PNG oder WebP.",
        "js.tooLarge": "Das Bild ist größer als {max} MB.",
        "js.uploading": "Bild wird hochgeladen …",
        "js.working": "Bild wird verbessert …",
        "js.queued": "In der Warteschlange …",
        "js.done": "Fertig.",
        "js.quota": "Ihr Kontingent ist aufgebraucht. Wieder verfügbar ab {reset}.",
        "js.locked": "In Ihrem Tarif nicht enthalten.",
        "js.rateLimited": "Zu viele Anfragen. Bitte in {seconds} s erneut versuchen.",
        "js.network": "Keine Verbindung zum Server.",
        "js.resetAt": "Neues Kontingent ab {reset}",
        "js.lockedFace": "Gesichtsverbesserung ist in Ihrem Tarif nicht enthalten",
        "js.lockedScale": "Ihr Tarif erlaubt höchstens {max}x",
        "js.selected": "Gewählt: {name}",
        "js.noPhotos": "Noch keine Fotos. Laden Sie eines hoch.",
        "js.photo": "Foto {n}",
        "js.noStyle": "Bitte einen Stil wählen.",
        "js.noPhoto": "Bitte ein Foto wählen.",
        "js.status.queued": "In der Warteschlange …",
        "js.status.processing": "Wird bearbeitet …",
        "js.status.succeeded": "Fertig.",
        "js.status.failed": "Konnte nicht verarbeitet werden. Es wurde nichts berechnet.",
        "js.status.blocked": "Abgelehnt: {message}",
        "js.premium": "Premium",
        "js.promptNotAllowed": "Diese Veranstaltung erlaubt keine eigenen Wünsche.",
        "js.stage.uploading": "Wird hochgeladen … {percent} %",
        "js.stage.queued": "In der Warteschlange …",
        "js.stage.processing": "Wird verarbeitet …",
        "js.stage.storing": "Ergebnis wird gespeichert …",
        "js.elapsed": "{seconds} s",
        "js.slow": "Das dauert länger als üblich. Wir warten noch bis zu {minutes} Minuten.",
        "js.paused": "Der Dienst ist gerade pausiert. Ihre Anfrage wartet und läuft weiter, "
        "sobald er wieder an ist.",
        "js.limitReached": "Kontingent aufgebraucht. Wieder verfügbar ab {reset}.",
        "js.unlockedBy": "Mit {plan} verfügbar",
        "js.unavailable": "Derzeit nicht verfügbar",
        "js.size": "{width} \u00d7 {height} px",
        "js.sizeOriginal": "Original: {size}",
        "js.sizeResult": "Ergebnis: {size}",
        "js.zoomIn": "100 % ansehen",
        "js.zoomOut": "Einpassen",
        "js.refused": "Abgelehnt",
        "js.failed": "Nicht möglich",
        "js.noEdits": "Noch keine Bearbeitungen.",
        "js.editOf": "{style}, {time}",
        "js.pending": "Wartet auf Freigabe durch den Veranstalter",
        "js.signedIn": "Angemeldet: {user} ({plan})",
        # The approval step, the time estimate, style previews, the kill switch's message.
        "js.awaitingApproval": "Wartet auf Freigabe",
        "js.awaitingApprovalHint": "Nur Sie sehen dieses Foto, bis die Veranstalter es freigeben.",
        "js.estimate": "etwa {seconds} s",
        "js.stylePreview": "Vorschau: {style}",
        "js.pausedBecause": "Der Dienst ist gerade pausiert: {message}",
    },
    "en": {
        "enhancer.title": "AI Image Enhancer",
        "enhancer.lead": "Upload an image, choose a model, click “Enhance”.",
        "usage.label": "Used today",
        "drop.title": "Drop an image here, paste it (Ctrl+V) or choose one",
        "drop.button": "Choose image",
        "drop.hint": "JPEG, PNG or WebP, at most $max_mb MB",
        "model.legend": "Model",
        "params.legend": "Settings",
        "param.scale": "Upscale",
        "param.face": "Enhance faces",
        "param.prompt": "Description (optional)",
        "param.strength": "Strength",
        "action.enhance": "Enhance",
        "action.download": "Download",
        "result.ai_label": "AI-generated",
        "compare.original": "Original",
        "compare.result": "Result",
        "compare.slider": "Compare: original on the left, result on the right",
        "lang.switch": "Deutsch",
        "edits.title": "Magic Edits",
        "edits.lead": "Pick a photo, pick a style, request the edit.",
        "edits.photos": "The event's photos",
        "edits.upload": "Upload your own photo",
        "edits.styles": "Style",
        "edits.prompt": "Your own wish (optional, if the event allows it)",
        "edits.request": "Request edit",
        "edits.result": "Result",
        "edits.mine": "My edits",
        "compare.hint": "Drag the divider or move it with the arrow keys",
        "format.label": "Format",
        "signin.label": "Demo sign-in (local only)",
        "signin.guest": "Guest",
        "signin.provider": "Sign in",
        "signin.out": "Sign out",
        "notfound.title": "Event not found",
        "notfound.text": "This event link does not exist or no longer works. Please check the "
        "link or ask the organiser for the right one.",
        "js.noFile": "Please choose an image first.",
        "js.badType": "Only JPEG, PNG or WebP.",
        "js.tooLarge": "The image is larger than {max} MB.",
        "js.uploading": "Uploading the image …",
        "js.working": "Enhancing the image …",
        "js.queued": "Queued …",
        "js.done": "Done.",
        "js.quota": "Your quota is used up. Available again from {reset}.",
        "js.locked": "Not included in your plan.",
        "js.rateLimited": "Too many requests. Please try again in {seconds} s.",
        "js.network": "Cannot reach the server.",
        "js.resetAt": "New quota from {reset}",
        "js.lockedFace": "Face enhancement is not included in your plan",
        "js.lockedScale": "Your plan allows at most {max}x",
        "js.selected": "Selected: {name}",
        "js.noPhotos": "No photos yet. Upload one.",
        "js.photo": "Photo {n}",
        "js.noStyle": "Please choose a style.",
        "js.noPhoto": "Please choose a photo.",
        "js.status.queued": "Queued …",
        "js.status.processing": "Processing …",
        "js.status.succeeded": "Done.",
        "js.status.failed": "Could not be processed. Nothing was charged.",
        "js.status.blocked": "Refused: {message}",
        "js.premium": "Premium",
        "js.promptNotAllowed": "This event does not allow custom wishes.",
        "js.stage.uploading": "Uploading … {percent} %",
        "js.stage.queued": "Queued …",
        "js.stage.processing": "Processing …",
        "js.stage.storing": "Storing the result …",
        "js.elapsed": "{seconds} s",
        "js.slow": "This is taking longer than usual. We keep waiting for up to {minutes} minutes.",
        "js.paused": "The service is paused right now. Your request waits and goes on as soon "
        "as it is back.",
        "js.limitReached": "Quota used up. Available again from {reset}.",
        "js.unlockedBy": "Available with {plan}",
        "js.unavailable": "Not available at the moment",
        "js.size": "{width} \u00d7 {height} px",
        "js.sizeOriginal": "Original: {size}",
        "js.sizeResult": "Result: {size}",
        "js.zoomIn": "View at 100 %",
        "js.zoomOut": "Fit",
        "js.refused": "Refused",
        "js.failed": "Not possible",
        "js.noEdits": "No edits yet.",
        "js.editOf": "{style}, {time}",
        "js.pending": "Waiting for the organiser's approval",
        "js.signedIn": "Signed in: {user} ({plan})",
        "js.awaitingApproval": "Awaiting approval",
        "js.awaitingApprovalHint": "Only you see this photo until the organisers approve it.",
        "js.estimate": "about {seconds} s",
        "js.stylePreview": "Preview: {style}",
        "js.pausedBecause": "The service is paused right now: {message}",
    },
}


# --- messages by error code -------------------------------------------------------------------
# What a page shows for an error envelope's `error.code` (and a failed job's or edit's code):
# never the server's English `message`, which is for developers and logs. A refusal says
# what to do next. tests/unit/test_web_messages.py walks every code of
# `aiimage.errors.ERROR_CODES` and of the OpenAPI description and fails on a missing text.
_TRY_LATER = ("Bitte versuchen Sie es später erneut.", "Please try again later.")
_PROVIDER = (
    "Das Bild konnte gerade nicht verarbeitet werden. Es wurde nichts berechnet; bitte später "
    "erneut versuchen.",
    "The image could not be processed right now. Nothing was charged; please try again later.",
)
_RELOAD = (
    "Die Seite ist veraltet. Bitte neu laden und erneut versuchen.",
    "The page is out of date. Please reload it and try again.",
)
_BAD_IMAGE = (
    "Die Datei ist kein lesbares Bild. Bitte ein anderes JPEG, PNG oder WebP wählen.",
    "The file is not a readable image. Please choose another JPEG, PNG or WebP.",
)
_SIGN_IN = ("Bitte melden Sie sich an.", "Please sign in.")
_ADMIN = (
    "Dafür fehlt Ihnen die Berechtigung.",
    "You are not allowed to do this.",
)
_SETTINGS = (
    "Die Eingaben sind ungültig. Bitte prüfen und erneut versuchen.",
    "The input is not valid. Please check it and try again.",
)
_ERROR_PAIRS: dict[str, tuple[str, str]] = {
    "abuse_blocked": (
        "Von Ihrem Gerät kamen zu viele Anfragen; es ist für diese Veranstaltung vorübergehend "
        "gesperrt. Bitte später erneut versuchen.",
        "Too many requests came from your device; it is paused for this event for a while. "
        "Please try again later.",
    ),
    "abuse_busy": (
        "Gerade ist viel los. " + _TRY_LATER[0],
        "It is busy right now. " + _TRY_LATER[1],
    ),
    "bad_owner": _ADMIN,
    "budget_exceeded": (
        "Das Budget dieser Veranstaltung für KI-Bearbeitungen ist aufgebraucht. Bitte wenden "
        "Sie sich an den Veranstalter.",
        "This event's budget for AI edits is used up. Please ask the organiser.",
    ),
    "capacity_exhausted": (
        "Der Dienst ist gerade ausgelastet. Es wurde nichts berechnet. " + _TRY_LATER[0],
        "The service is at capacity right now. Nothing was charged. " + _TRY_LATER[1],
    ),
    "conflict": (
        "Das hat sich inzwischen geändert. Bitte neu laden und erneut versuchen.",
        "This has changed in the meantime. Please reload and try again.",
    ),
    "csrf_failed": _RELOAD,
    "event_conflict": (
        "Die Veranstaltung wurde gerade geändert. Bitte erneut versuchen.",
        "The event was changed just now. Please try again.",
    ),
    "event_exists": ("Diese Veranstaltung gibt es schon.", "This event already exists."),
    "event_policy": (
        "Diese Veranstaltung erlaubt das nicht.",
        "This event does not allow this.",
    ),
    "feature_disabled": (
        "Der Dienst ist vorübergehend pausiert. Es wurde nichts berechnet. Bitte später erneut "
        "versuchen.",
        "The service is paused for now. Nothing was charged. Please try again later.",
    ),
    "feature_locked": (
        "Das ist in Ihrem Tarif nicht enthalten. Ein Upgrade schaltet es frei.",
        "This is not included in your plan. An upgrade unlocks it.",
    ),
    "forbidden": _ADMIN,
    "generation_expired": (
        "Das Ergebnis ist abgelaufen. Bitte das Bild erneut verarbeiten.",
        "The result has expired. Please process the image again.",
    ),
    "generation_failed": _PROVIDER,
    "idempotency_in_progress": (
        "Diese Anfrage läuft schon. Bitte einen Moment warten.",
        "This request is already running. Please wait a moment.",
    ),
    "idempotency_key_reused": _RELOAD,
    "image_corrupt": _BAD_IMAGE,
    "image_empty": (
        "Die Datei ist leer. Bitte ein Bild wählen.",
        "The file is empty. Please choose an image.",
    ),
    "image_missing": (
        "Bitte zuerst ein Bild wählen.",
        "Please choose an image first.",
    ),
    "image_too_large": (
        "Das Bild ist zu groß. Bitte ein kleineres Bild wählen.",
        "The image is too large. Please choose a smaller one.",
    ),
    "image_too_many_pixels": (
        "Das Bild hat zu viele Pixel. Bitte ein Bild mit geringerer Auflösung wählen.",
        "The image has too many pixels. Please choose one with a lower resolution.",
    ),
    "image_type_mismatch": (
        "Dateiendung und Inhalt passen nicht zusammen. Bitte ein echtes JPEG, PNG oder WebP "
        "wählen.",
        "The file's type and content do not match. Please choose a real JPEG, PNG or WebP.",
    ),
    "image_undecodable": _BAD_IMAGE,
    "internal_error": (
        "Bei uns ist ein Fehler aufgetreten. Es wurde nichts berechnet. " + _TRY_LATER[0],
        "Something failed on our side. Nothing was charged. " + _TRY_LATER[1],
    ),
    "invalid_authorization": _SIGN_IN,
    "invalid_cursor": _RELOAD,
    "invalid_id": (
        "Dieser Eintrag existiert nicht.",
        "This entry does not exist.",
    ),
    "invalid_idempotency_key": _RELOAD,
    "invalid_key": (
        "Diese Datei gibt es nicht (mehr).",
        "This file does not exist (any more).",
    ),
    "invalid_parameters": _SETTINGS,
    "invalid_request": _SETTINGS,
    "invalid_settings": _SETTINGS,
    "invalid_token": (
        "Ihre Anmeldung ist ungültig. Bitte erneut anmelden.",
        "Your sign-in is not valid. Please sign in again.",
    ),
    "invalid_url": (
        "Diese Adresse ist kein Ergebnis.",
        "This address is not a result.",
    ),
    "invalid_webhook_signature": _ADMIN,
    "invalid_webhook_token": _ADMIN,
    "key_mismatch": _RELOAD,
    "method_not_allowed": _RELOAD,
    "misconfigured": _PROVIDER,
    "model_version_not_allowed": (
        "Dieses Modell ist nicht verfügbar. Bitte ein anderes wählen.",
        "This model is not available. Please choose another one.",
    ),
    "no_result": (
        "Das Ergebnis ist noch nicht fertig.",
        "The result is not ready yet.",
    ),
    "not_a_tenant": _ADMIN,
    "not_found": ("Das gibt es nicht (mehr).", "This does not exist (any more)."),
    "not_owner": (
        "Dieses Bild gehört nicht zu Ihrer Sitzung.",
        "This image does not belong to your session.",
    ),
    "not_superadmin": _ADMIN,
    "number_out_of_range": _SETTINGS,
    "origin_unverified": _RELOAD,
    "output_too_large": _PROVIDER,
    "param_not_supported": (
        "Diese Einstellung passt nicht zum gewählten Modell.",
        "This setting does not fit the chosen model.",
    ),
    "param_out_of_range": (
        "Eine Einstellung liegt außerhalb des erlaubten Bereichs.",
        "A setting is outside the allowed range.",
    ),
    "payload_too_large": (
        "Die Datei ist zu groß. Bitte ein kleineres Bild wählen.",
        "The file is too large. Please choose a smaller image.",
    ),
    "pending_without_job_id": _PROVIDER,
    "photo_already_reviewed": (
        "Über dieses Foto wurde bereits anders entschieden.",
        "This photo has already been decided the other way.",
    ),
    "photo_missing": (
        "Das Foto ist nicht mehr vorhanden. Bitte ein anderes wählen.",
        "The photo is no longer there. Please choose another one.",
    ),
    "photo_not_ready": (
        "Das Foto wird noch hochgeladen. Bitte einen Moment warten.",
        "The photo is still uploading. Please wait a moment.",
    ),
    "photo_not_uploaded": (
        "Das Foto ist nicht angekommen. Bitte erneut hochladen.",
        "The photo did not arrive. Please upload it again.",
    ),
    "photo_pending_approval": (
        "Das Foto wartet auf Freigabe durch die Veranstalter. Danach kann es bearbeitet werden.",
        "The photo is awaiting approval by the organisers. It can be edited once approved.",
    ),
    "prompt_blocked": (
        "Die Beschreibung enthält einen nicht erlaubten Begriff. Bitte umformulieren.",
        "The description contains a term that is not allowed. Please rephrase it.",
    ),
    "provider_auth": _PROVIDER,
    "provider_image_missing": _PROVIDER,
    "provider_image_unreadable": _PROVIDER,
    "provider_job_unknown": _PROVIDER,
    "provider_malformed": _PROVIDER,
    "provider_model_unknown": _PROVIDER,
    "provider_output_refused": _PROVIDER,
    "provider_payment_required": _PROVIDER,
    "provider_prompt_missing": _PROVIDER,
    "provider_rate_limited": _PROVIDER,
    "provider_rejected": _PROVIDER,
    "provider_sync_only": _PROVIDER,
    "provider_timeout": _PROVIDER,
    "provider_unavailable": _PROVIDER,
    "quota_exceeded": (
        "Ihr Kontingent ist aufgebraucht. Wieder verfügbar ab {reset}.",
        "Your quota is used up. Available again from {reset}.",
    ),
    "rate_limited": (
        "Zu viele Anfragen. Bitte in {seconds} s erneut versuchen.",
        "Too many requests. Please try again in {seconds} s.",
    ),
    "request_too_large": (
        "Die Anfrage ist zu groß. Bitte ein kleineres Bild wählen.",
        "The request is too large. Please choose a smaller image.",
    ),
    "result_not_found": (
        "Dieses Ergebnis gibt es nicht (mehr).",
        "This result does not exist (any more).",
    ),
    "service_busy": (
        "Der Dienst ist gerade ausgelastet. " + _TRY_LATER[0],
        "The service is busy right now. " + _TRY_LATER[1],
    ),
    "settings_conflict": (
        "Die Einstellungen wurden inzwischen geändert. Bitte neu laden.",
        "The settings were changed in the meantime. Please reload.",
    ),
    "storage_no_body": _PROVIDER,
    "storage_unavailable": (
        "Der Speicher ist gerade nicht erreichbar. Es wurde nichts berechnet. " + _TRY_LATER[0],
        "Storage is unreachable right now. Nothing was charged. " + _TRY_LATER[1],
    ),
    "style_not_allowed": (
        "Dieser Stil ist für diese Veranstaltung nicht freigegeben. Bitte einen anderen wählen.",
        "This style is not available for this event. Please choose another one.",
    ),
    "token_expired": (
        "Ihre Anmeldung ist abgelaufen. Bitte erneut anmelden.",
        "Your sign-in has expired. Please sign in again.",
    ),
    "too_many_open_photo_slots": (
        "Sie laden schon mehrere Fotos hoch. Bitte warten, bis sie fertig sind.",
        "You are already uploading several photos. Please wait until they are done.",
    ),
    "unauthenticated": _SIGN_IN,
    "unavailable": (
        "Der Dienst ist gerade nicht verfügbar. " + _TRY_LATER[0],
        "The service is unavailable right now. " + _TRY_LATER[1],
    ),
    "unhandled": (
        "Bei uns ist ein Fehler aufgetreten. " + _TRY_LATER[0],
        "Something failed on our side. " + _TRY_LATER[1],
    ),
    "unknown_asset": ("Diese Datei gibt es nicht.", "This file does not exist."),
    "unknown_block": ("Diese Sperre gibt es nicht.", "This block does not exist."),
    "unknown_event": (
        "Diesen Veranstaltungslink gibt es nicht. Bitte den Link beim Veranstalter prüfen.",
        "This event link does not exist. Please check the link with the organiser.",
    ),
    "unknown_model": (
        "Dieses Modell gibt es nicht. Bitte ein anderes wählen.",
        "This model does not exist. Please choose another one.",
    ),
    "unknown_photo": (
        "Dieses Foto gibt es nicht (mehr). Bitte ein anderes wählen.",
        "This photo does not exist (any more). Please choose another one.",
    ),
    "unknown_request": (
        "Diese Bearbeitung gibt es nicht.",
        "This edit does not exist.",
    ),
    "unknown_style": (
        "Diesen Stil gibt es nicht (mehr). Bitte einen anderen wählen.",
        "This style does not exist (any more). Please choose another one.",
    ),
    "unknown_tenant": ("Diesen Veranstalter gibt es nicht.", "This organiser does not exist."),
    "unprocessable": _SETTINGS,
    "unsupported_image_type": (
        "Nur JPEG, PNG oder WebP.",
        "Only JPEG, PNG or WebP.",
    ),
    "unsupported_media_type": (
        "Nur JPEG, PNG oder WebP.",
        "Only JPEG, PNG or WebP.",
    ),
    "upload_not_found": (
        "Der Upload ist nicht angekommen oder abgelaufen. Bitte erneut hochladen.",
        "The upload did not arrive or has expired. Please upload again.",
    ),
    "upstream_error": _PROVIDER,
    # Codes of the page itself (no envelope).
    "network": ("Keine Verbindung zum Server.", "Cannot reach the server."),
    "upload_failed": (
        "Das Hochladen ist fehlgeschlagen. Bitte erneut versuchen.",
        "The upload failed. Please try again.",
    ),
    "timed_out": (
        "Das dauert ungewöhnlich lange; wir haben aufgehört zu warten. Es wurde nichts "
        "berechnet, solange kein Ergebnis da ist. Bitte später erneut versuchen.",
        "This is taking unusually long; we stopped waiting. Nothing is charged without a "
        "result. Please try again later.",
    ),
    "canceled": ("Die Verarbeitung wurde abgebrochen.", "The processing was canceled."),
    # The reasons an edit is `blocked` (`EditRequest.block_reason`).
    "blocked_term": (
        "Die Beschreibung enthält einen nicht erlaubten Begriff. Bitte umformulieren.",
        "The description contains a term that is not allowed. Please rephrase it.",
    ),
    "provider_moderation": (
        "Das Foto oder der Wunsch wurde von der Inhaltsprüfung abgelehnt. Es wurde nichts "
        "berechnet.",
        "The photo or the wish was refused by the content check. Nothing was charged.",
    ),
}
# Codes that are refusals (the caller's situation, not a fault): shown as an alert with what
# to do next, never as "something went wrong".
REFUSALS: frozenset[str] = frozenset(
    {
        "abuse_blocked",
        "blocked_term",
        "budget_exceeded",
        "event_policy",
        "feature_disabled",
        "feature_locked",
        "photo_pending_approval",
        "prompt_blocked",
        "provider_moderation",
        "quota_exceeded",
        "rate_limited",
        "style_not_allowed",
        "too_many_open_photo_slots",
    }
)
# The fallback for a code this table does not know (a newer server): generic, never the
# server's text.
UNKNOWN_ERROR: dict[Lang, str] = {
    "de": "Etwas hat nicht geklappt. Es wurde nichts berechnet. Bitte erneut versuchen.",
    "en": "That did not work. Nothing was charged. Please try again.",
}
ERROR_MESSAGES: dict[Lang, dict[str, str]] = {
    "de": {code: pair[0] for code, pair in _ERROR_PAIRS.items()},
    "en": {code: pair[1] for code, pair in _ERROR_PAIRS.items()},
}


# German names of the catalog's models; English pages use the catalog's own labels.
MODEL_LABELS: dict[Lang, dict[str, str]] = {
    "de": {
        "@cf/runwayml/stable-diffusion-v1-5-img2img": "Verbessern (Stable Diffusion 1.5)",
        "@cf/stabilityai/stable-diffusion-xl-base-1.0": "Neu gestalten (Stable Diffusion XL)",
        "nightmareai/real-esrgan": "Hochskalieren (Real-ESRGAN)",
        "tencentarc/gfpgan": "Gesichter restaurieren (GFPGAN)",
        "sczhou/codeformer": "Gesichter restaurieren (CodeFormer)",
    },
    "en": {},
}


def pick_lang(requested: str | None) -> Lang:
    for lang in LANGS:
        if requested == lang:
            return lang
    return DEFAULT_LANG
