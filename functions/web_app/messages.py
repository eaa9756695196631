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
        "js.noFile": "Bitte zuerst ein Bild wählen.",
        "js.badType": "Nur JPEG, PNG oder WebP.",
        "js.tooLarge": "Das Bild ist größer als {max} MB.",
        "js.uploading": "Bild wird hochgeladen …",
        "js.working": "Bild wird verbessert …",
        "js.queued": "In der Warteschlange …",
        "js.done": "Fertig.",
        "js.quota": "Ihr Kontingent ist aufgebraucht. Es wird {reset} zurückgesetzt.",
        "js.locked": "In Ihrem Tarif nicht enthalten.",
        "js.rateLimited": "Zu viele Anfragen. Bitte in {seconds} s erneut versuchen.",
        "js.error": "Etwas ist schiefgegangen: {message}",
        "js.network": "Keine Verbindung zum Server.",
        "js.resetAt": "Zurückgesetzt {reset}",
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
        "js.status.failed": "Fehlgeschlagen: {message}",
        "js.status.blocked": "Abgelehnt: {message}",
        "js.premium": "Premium",
        "js.promptNotAllowed": "Diese Veranstaltung erlaubt keine eigenen Wünsche.",
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
        "js.noFile": "Please choose an image first.",
        "js.badType": "Only JPEG, PNG or WebP.",
        "js.tooLarge": "The image is larger than {max} MB.",
        "js.uploading": "Uploading the image …",
        "js.working": "Enhancing the image …",
        "js.queued": "Queued …",
        "js.done": "Done.",
        "js.quota": "Your quota is used up. It resets {reset}.",
        "js.locked": "Not included in your plan.",
        "js.rateLimited": "Too many requests. Please try again in {seconds} s.",
        "js.error": "Something went wrong: {message}",
        "js.network": "Cannot reach the server.",
        "js.resetAt": "Resets {reset}",
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
        "js.status.failed": "Failed: {message}",
        "js.status.blocked": "Refused: {message}",
        "js.premium": "Premium",
        "js.promptNotAllowed": "This event does not allow custom wishes.",
    },
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
