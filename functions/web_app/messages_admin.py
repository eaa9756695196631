"""The superadmin console's own text (`/admin`), German first and English (`?lang=en`).

One table of (German, English) pairs, so that no text exists in one language only. As in
`web_app.messages`: keys without a prefix are rendered into the HTML on the server, keys
prefixed `js.` travel to the script in the config block (`{name}` placeholders filled
there). Refusals show `ERROR_MESSAGES` by the envelope's code, never the server's text.
The help texts of the settings follow the seed's runbook (§3, §4.1, §6.2).
"""

from __future__ import annotations

from web_app.messages import LANGS, Lang

_PAIRS: dict[str, tuple[str, str]] = {
    "admin.title": ("KI-Bearbeitung: Superadmin-Konsole", "AI editing: superadmin console"),
    "admin.lead": (
        "Laufzeitsteuerung, Styles, Pakete und Add-ons, Budgets, Blockliste und Betrieb. "
        "Jede Änderung wird erst nach Bestätigung gespeichert.",
        "Runtime control, styles, packages and add-ons, budgets, block list and operations. "
        "Every change is saved only after you confirm it.",
    ),
    "admin.nav": ("Bereiche", "Sections"),
    "admin.nav.settings": ("AI Editing Settings", "AI Editing Settings"),
    "admin.nav.styles": ("AI Styles", "AI Styles"),
    "admin.nav.packages": ("Pakete und Add-ons", "Packages and add-ons"),
    "admin.nav.budgets": ("Budgets", "Budgets"),
    "admin.nav.terms": ("Blockliste", "Blocked terms"),
    "admin.nav.ops": ("Betrieb", "Operations"),
    "admin.save": ("Speichern …", "Save …"),
    "admin.load": ("Laden", "Load"),
    "admin.new": ("Neu", "New"),
    "admin.cancel": ("Abbrechen", "Cancel"),
    "admin.confirm": ("Bestätigen", "Confirm"),
    "admin.confirm_title": ("Änderung bestätigen", "Confirm the change"),
    "admin.version": ("Version", "Version"),
    # --- settings (seed §3) --------------------------------------------------------------
    "admin.settings.title": ("AI Editing Settings", "AI Editing Settings"),
    "admin.settings.lead": (
        "Die zentrale Laufzeitsteuerung. Änderungen gelten ab dem Speichern für neue "
        "Anfragen; gespeichert wird nur auf der Version, die Sie geladen haben.",
        "The central runtime control. Changes hold for new requests from the moment they are "
        "saved; a save applies only to the version you loaded.",
    ),
    "admin.kill.title": ("Kill-Switch (is_enabled)", "Kill switch (is_enabled)"),
    "admin.help.is_enabled": (
        "Globaler Kill-Switch. Aus: jede neue Anfrage wird mit „feature_disabled“ und der "
        "Statusmeldung abgelehnt; wartende Anfragen bleiben in der Warteschlange.",
        "Global kill switch. Off: every new request is refused with `feature_disabled` and "
        "the status message; waiting requests stay queued.",
    ),
    "admin.field.status_message": (
        "Statusmeldung (status_message)",
        "Status message (status_message)",
    ),
    "admin.help.status_message": (
        "Text bei globaler Deaktivierung (feature_disabled): Gäste sehen ihn.",
        "The text shown while switched off (feature_disabled): guests see it.",
    ),
    "admin.field.default_provider": (
        "Standard-Provider (default_provider)",
        "Default provider (default_provider)",
    ),
    "admin.help.default_provider": (
        "Provider neuer Anfragen, wenn ein Style keinen eigenen nennt (im Seed: runware).",
        "The provider of new requests where a style names none (the seed's: runware).",
    ),
    "admin.field.fallback_provider": (
        "Ausweich-Provider (fallback_provider)",
        "Fallback provider (fallback_provider)",
    ),
    "admin.help.fallback_provider": (
        "Failover: übernimmt, wenn der Standard-Provider ausfällt. Leer: kein Failover.",
        "Failover: takes over when the default provider fails. Empty: no failover.",
    ),
    "admin.field.runware_mode": ("Runware-Modus (runware_mode)", "Runware mode (runware_mode)"),
    "admin.help.runware_mode": (
        "live oder fake. fake liefert synthetische Antworten ohne externen API-Call: "
        "geeignet für die Prüfung von Ablauf, Oberfläche und Warteschlange.",
        "live or fake. fake answers synthetically without any external API call: for "
        "checking the flow, the screens and the queue.",
    ),
    "admin.fake_warning": (
        "fake: nicht für Kosten- oder Qualitätsaussagen nutzen.",
        "fake: not for cost or quality statements.",
    ),
    "admin.field.queue_auto_dispatch": (
        "Automatisch einreihen (queue_auto_dispatch)",
        "Dispatch automatically (queue_auto_dispatch)",
    ),
    "admin.help.queue_auto_dispatch": (
        "An: jede neue Anfrage geht sofort in die Warteschlange. Aus (Standard): Anfragen "
        "werden erstellt, aber erst vom separaten Dispatch (minütlich, oder „Einreihen“ "
        "unter Betrieb) verarbeitet.",
        "On: every new request goes to the queue at once. Off (the default): requests are "
        "created but processed only by the separate dispatch (every minute, or “Dispatch” "
        "under Operations).",
    ),
    "admin.field.queue_name": ("Warteschlange (queue_name)", "Queue (queue_name)"),
    "admin.help.queue_name": ("Ziel-Queue für KI-Jobs.", "The target queue of AI jobs."),
    "admin.field.queue_max_polls": (
        "Maximale Abfragen (queue_max_polls)",
        "Maximum polls (queue_max_polls)",
    ),
    "admin.help.queue_max_polls": (
        "Maximale Poll-Versuche für den Provider-Status (1 bis 500); danach scheitert die Anfrage.",
        "The most status polls of a provider task (1 to 500); then the request fails.",
    ),
    "admin.help.blocked_terms": (
        "Die globale Prompt-Blockliste steht im Bereich „Blockliste“.",
        "The global prompt block list is under “Blocked terms”.",
    ),
    # --- styles (seed §4.1) --------------------------------------------------------------
    "admin.styles.title": ("AI Styles", "AI Styles"),
    "admin.styles.lead": (
        "Globale Styles: Provider und Modell, Prompt-Vorlagen, aktiv, Premium und das "
        "Entitlement-Profil. Deaktivierte Styles sehen Gäste nicht mehr.",
        "Global styles: provider and model, prompt templates, active, premium and the "
        "entitlement profile. Guests no longer see a deactivated style.",
    ),
    "admin.col.key": ("Schlüssel", "Key"),
    "admin.col.name": ("Name", "Name"),
    "admin.col.provider": ("Provider", "Provider"),
    "admin.col.state": ("Zustand", "State"),
    "admin.col.cost": ("Kosten (USD)", "Cost (USD)"),
    "admin.col.actions": ("Aktionen", "Actions"),
    "admin.col.features": ("Features", "Features"),
    "admin.col.status": ("Status", "Status"),
    "admin.col.expires": ("Läuft ab", "Expires"),
    "admin.style.form": ("Style bearbeiten oder anlegen", "Edit or create a style"),
    "admin.field.key": ("Schlüssel (key)", "Key (key)"),
    "admin.field.name": ("Name (name)", "Name (name)"),
    "admin.field.name_de": ("Name auf Deutsch", "Name in German"),
    "admin.field.name_en": ("Name auf Englisch", "Name in English"),
    "admin.field.provider": ("Provider (provider)", "Provider (provider)"),
    "admin.field.provider_model": ("Modell (provider_model)", "Model (provider_model)"),
    "admin.field.prompt_template": (
        "Prompt-Vorlage (prompt_template)",
        "Prompt template (prompt_template)",
    ),
    "admin.help.prompt_template": (
        "{prompt} wird durch den Wunsch des Gastes ersetzt; ohne {prompt} folgt er der Vorlage.",
        "{prompt} is replaced by the guest's wish; without {prompt} the wish follows the template.",
    ),
    "admin.field.negative_prompt_template": (
        "Negativ-Prompt (negative_prompt_template)",
        "Negative prompt (negative_prompt_template)",
    ),
    "admin.field.cost": (
        "Geschätzte Kosten je Bearbeitung in USD",
        "Estimated cost per edit in USD",
    ),
    "admin.help.cost": (
        "Bis zu sechs Nachkommastellen (Mikro-USD); reserviert gegen das Budget des Veranstalters.",
        "Up to six decimals (micro-USD); reserved against the organiser's budget.",
    ),
    "admin.field.is_active": ("Aktiv (is_active)", "Active (is_active)"),
    "admin.field.is_premium": ("Premium (is_premium)", "Premium (is_premium)"),
    "admin.field.required_feature": (
        "Benötigtes Paket-Feature (metadata.entitlements.required_feature)",
        "Required package feature (metadata.entitlements.required_feature)",
    ),
    "admin.field.required_addon": (
        "Benötigtes Add-on (metadata.entitlements.required_addon)",
        "Required add-on (metadata.entitlements.required_addon)",
    ),
    "admin.preview.title": ("Vorschau des Prompts", "Prompt preview"),
    "admin.field.custom_prompt": ("Wunsch eines Gastes (Beispiel)", "A guest's wish (example)"),
    "admin.preview.button": ("Vorschau", "Preview"),
    "admin.preview.help": (
        "Der Server setzt den Prompt genau so zusammen wie bei einer echten Anfrage und prüft "
        "ihn gegen die geltende Blockliste. Es wird nichts gespeichert.",
        "The server composes the prompt exactly as for a real request and checks it against "
        "the block list in force. Nothing is saved.",
    ),
    # --- packages and add-ons (seed §2) --------------------------------------------------
    "admin.packages.title": ("Pakete und Add-ons", "Packages and add-ons"),
    "admin.packages.lead": (
        "KI-Styling gewährt ein Paket mit dem Feature „ai_styling“ oder ein abgeschlossenes, "
        "nicht abgelaufenes Add-on „ai_styling_unlock“ der Veranstaltung.",
        "AI styling is granted by a package with the feature `ai_styling`, or by a completed, "
        "unexpired add-on `ai_styling_unlock` of the event.",
    ),
    "admin.package.form": ("Paket bearbeiten oder anlegen", "Edit or create a package"),
    "admin.field.package_key": ("Paket-Schlüssel (package_key)", "Package key (package_key)"),
    "admin.field.feature_ai_styling": ("Feature ai_styling", "Feature ai_styling"),
    "admin.field.other_features": (
        "Weitere Features (durch Komma getrennt)",
        "Other features (comma-separated)",
    ),
    "admin.event.title": ("Veranstaltung", "Event"),
    "admin.field.tenant_id": ("Veranstalter-ID (tenant_id)", "Tenant id (tenant_id)"),
    "admin.field.event_slug": ("Veranstaltungs-Kürzel (slug)", "Event slug (slug)"),
    "admin.field.event_package": ("Paket der Veranstaltung", "The event's package"),
    "admin.event.move": ("Paket zuweisen …", "Assign package …"),
    "admin.addons.title": ("Add-ons der Veranstaltung", "The event's add-ons"),
    "admin.addon.form": ("Add-on gewähren", "Grant an add-on"),
    "admin.field.addon_id": ("Add-on-ID", "Add-on id"),
    "admin.field.addon_key": ("Add-on-Schlüssel", "Add-on key"),
    "admin.field.addon_status": ("Status", "Status"),
    "admin.field.expires_at": ("Läuft ab (leer: nie)", "Expires (empty: never)"),
    "admin.addon.grant": ("Gewähren …", "Grant …"),
    # --- budgets (seed §9.2) -------------------------------------------------------------
    "admin.budgets.title": ("Budgets der Veranstalter", "Tenant budgets"),
    "admin.budgets.lead": (
        "Je Kalendermonat (UTC). Die weiche Grenze löst eine Warnung aus, die harte lehnt "
        "neue Anfragen mit „budget_exceeded“ ab, außer bis zu „override_until“.",
        "Per calendar month (UTC). The soft cap raises an alert, the hard cap refuses new "
        "requests with `budget_exceeded`, except until `override_until`.",
    ),
    "admin.field.soft_cap": ("Weiche Grenze in USD (soft_cap)", "Soft cap in USD (soft_cap)"),
    "admin.field.hard_cap": ("Harte Grenze in USD (hard_cap)", "Hard cap in USD (hard_cap)"),
    "admin.help.cap": ("Leer: keine Grenze.", "Empty: no cap."),
    "admin.field.override_until": (
        "Ausnahme bis (override_until, UTC)",
        "Override until (override_until, UTC)",
    ),
    "admin.help.override_until": (
        "Bis dahin gilt die harte Grenze nicht (Incident-Playbook 9.2). Leer: keine Ausnahme.",
        "Until then the hard cap does not hold (incident playbook 9.2). Empty: no override.",
    ),
    "admin.field.cooldown": (
        "Warnungs-Pause in Minuten (alert_cooldown_minutes)",
        "Alert cooldown in minutes (alert_cooldown_minutes)",
    ),
    "admin.help.cooldown": (
        "Höchstens eine Soft-Cap-Warnung je Fenster (1 bis 10080 Minuten). Leer: der Wert der "
        "Bereitstellung (BudgetAlertCooldownMinutes, Standard 30).",
        "At most one soft-cap alert a window (1 to 10080 minutes). Empty: the deployment's "
        "value (BudgetAlertCooldownMinutes, default 30).",
    ),
    # --- blocked terms -------------------------------------------------------------------
    "admin.terms.title": (
        "Globale Prompt-Blockliste (blocked_terms)",
        "Global prompt block list (blocked_terms)",
    ),
    "admin.terms.lead": (
        "Ein Begriff je Zeile. Ein Prompt mit einem dieser Begriffe wird mit „prompt_blocked“ "
        "abgelehnt, bevor ein Provider ihn sieht.",
        "One term a line. A prompt holding one of them is refused with `prompt_blocked` "
        "before any provider sees it.",
    ),
    "admin.field.terms": ("Begriffe", "Terms"),
    "admin.terms.reset": ("Plattform-Liste verwenden …", "Use the platform's list …"),
    # --- operations (seed §8) ------------------------------------------------------------
    "admin.ops.title": ("Betrieb", "Operations"),
    "admin.ops.lead": (
        "Die Kommandos der Kommandozeile, die von hier aus sinnvoll sind. Jedes beginnt mit "
        "einem Probelauf, der nichts ändert.",
        "The command-line operations that make sense from a screen. Each starts with a dry "
        "run that changes nothing.",
    ),
    "admin.ops.recover": ("Hängende Anfragen (recover-stuck)", "Stuck requests (recover-stuck)"),
    "admin.field.minutes": ("Ohne Fortschritt seit Minuten", "Without progress for minutes"),
    "admin.ops.list": ("Probelauf", "Dry run"),
    "admin.ops.requeue": ("Erneut einreihen …", "Requeue …"),
    "admin.ops.fail": ("Als gescheitert beenden …", "Fail them …"),
    "admin.ops.recover_help": (
        "Erst der Probelauf; Einreihen oder Beenden wirkt auf das, was er gefunden hat.",
        "The dry run first; requeue or fail act on what it found.",
    ),
    "admin.ops.dispatch": ("Wartende einreihen (dispatch)", "Dispatch queued requests (dispatch)"),
    "admin.field.limit": ("Höchstens", "At most"),
    "admin.ops.send": ("Einreihen …", "Dispatch …"),
    "admin.ops.prune": ("Aufbewahrung (prune, nur Probelauf)", "Retention (prune, dry run only)"),
    "admin.field.request_days": (
        "Anfragen älter als Tage (leer: Standard)",
        "Requests older than days (empty: default)",
    ),
    "admin.field.ledger_days": (
        "Ledger älter als Tage (leer: Standard)",
        "Ledger older than days (empty: default)",
    ),
    "admin.ops.prune_help": (
        "Gelöscht wird nur durch den täglichen Lauf oder die Kommandozeile.",
        "Deleting is done by the daily run or the command line only.",
    ),
    # --- for the script ------------------------------------------------------------------
    "js.loading": ("Wird geladen …", "Loading …"),
    "js.loaded": ("Geladen.", "Loaded."),
    "js.saved": ("Gespeichert.", "Saved."),
    "js.savedVersion": ("Gespeichert: Version {version}.", "Saved: version {version}."),
    "js.canceled": ("Nicht geändert.", "Nothing changed."),
    "js.conflict": (
        "Die Einstellungen wurden inzwischen geändert (Ihre Version {expected}, aktuell "
        "{current}). Nichts wurde gespeichert. Die aktuellen Werte sind jetzt geladen: bitte "
        "prüfen und die Änderung erneut vornehmen.",
        "The settings were changed meanwhile (your version {expected}, now {current}). "
        "Nothing was saved. The current values are loaded now: please check them and make "
        "your change again.",
    ),
    "js.kill.on": ("KI-Bearbeitung ist AN.", "AI editing is ON."),
    "js.kill.off": (
        "KI-Bearbeitung ist AUS. Gäste sehen: „{message}“",
        "AI editing is OFF. Guests see: “{message}”",
    ),
    "js.kill.offNoMessage": ("KI-Bearbeitung ist AUS.", "AI editing is OFF."),
    "js.kill.switchOff": ("KI-Bearbeitung ausschalten …", "Switch AI editing off …"),
    "js.kill.switchOn": ("KI-Bearbeitung wieder einschalten …", "Switch AI editing back on …"),
    "js.confirm.killOff": (
        "KI-Bearbeitung für alle Veranstaltungen ausschalten? Neue Anfragen werden mit "
        "„{message}“ abgelehnt.",
        "Switch AI editing off for every event? New requests are refused with “{message}”.",
    ),
    "js.confirm.killOn": (
        "KI-Bearbeitung für alle Veranstaltungen wieder einschalten?",
        "Switch AI editing back on for every event?",
    ),
    "js.confirm.settings": (
        "Diese Einstellungen speichern: {changes}?",
        "Save these settings: {changes}?",
    ),
    "js.confirm.noChanges": ("Keine Änderung.", "No change."),
    "js.confirm.style": ("Style „{key}“ speichern?", "Save the style “{key}”?"),
    "js.confirm.deactivate": (
        "Style „{key}“ deaktivieren? Gäste sehen ihn dann nicht mehr.",
        "Deactivate the style “{key}”? Guests no longer see it.",
    ),
    "js.confirm.activate": (
        "Style „{key}“ wieder aktivieren?",
        "Activate the style “{key}” again?",
    ),
    "js.confirm.package": ("Paket „{key}“ speichern?", "Save the package “{key}”?"),
    "js.confirm.eventPackage": (
        "Der Veranstaltung „{event}“ das Paket „{key}“ zuweisen?",
        "Assign the package “{key}” to the event “{event}”?",
    ),
    "js.confirm.addon": (
        "Der Veranstaltung „{event}“ das Add-on „{key}“ ({status}) gewähren, gültig bis {expires}?",
        "Grant the event “{event}” the add-on “{key}” ({status}), valid until {expires}?",
    ),
    "js.confirm.budget": (
        "Budget von „{tenant}“ setzen: weich {soft}, hart {hard}, Ausnahme bis {override}?",
        "Set the budget of “{tenant}”: soft {soft}, hard {hard}, override until {override}?",
    ),
    "js.confirm.terms": (
        "Die Blockliste mit {count} Begriffen speichern?",
        "Save the block list of {count} terms?",
    ),
    "js.confirm.termsReset": (
        "Die gespeicherte Liste verwerfen und die Plattform-Liste verwenden?",
        "Drop the stored list and use the platform's?",
    ),
    "js.confirm.requeue": (
        "{count} hängende Anfragen erneut einreihen?",
        "Requeue {count} stuck requests?",
    ),
    "js.confirm.fail": (
        "{count} hängende Anfragen als gescheitert beenden? Ihre Budget-Reservierungen "
        "werden freigegeben.",
        "Fail {count} stuck requests? Their budget reservations are released.",
    ),
    "js.confirm.dispatch": (
        "Bis zu {count} wartende Anfragen einreihen?",
        "Dispatch up to {count} queued requests?",
    ),
    "js.fakeOption": (
        "nicht für Kosten- oder Qualitätsaussagen",
        "not for cost or quality statements",
    ),
    "js.version": ("Version {version}.", "Version {version}."),
    "js.none": ("(keines)", "(none)"),
    "js.verb.listed": ("aufgelistet", "listed"),
    "js.verb.requeued": ("erneut eingereiht", "requeued"),
    "js.verb.failed": ("beendet", "failed"),
    "js.verb.dispatched": ("eingereiht", "dispatched"),
    "js.verb.deleted": ("gelöscht", "deleted"),
    "js.never": ("nie", "never"),
    "js.noCap": ("keine", "none"),
    "js.active": ("aktiv", "active"),
    "js.inactive": ("deaktiviert", "deactivated"),
    "js.premium": ("Premium", "premium"),
    "js.edit": ("Bearbeiten", "Edit"),
    "js.deactivate": ("Deaktivieren …", "Deactivate …"),
    "js.activate": ("Aktivieren …", "Activate …"),
    "js.granted.package": (
        "KI-Styling freigeschaltet durch das Paket.",
        "AI styling granted by the package.",
    ),
    "js.granted.addon": (
        "KI-Styling freigeschaltet durch ein Add-on.",
        "AI styling granted by an add-on.",
    ),
    "js.locked": (
        "KI-Styling gesperrt (feature_locked): Paket mit ai_styling zuweisen oder Add-on "
        "ai_styling_unlock gewähren.",
        "AI styling locked (feature_locked): assign a package with ai_styling or grant the "
        "add-on ai_styling_unlock.",
    ),
    "js.noAddons": ("Keine Add-ons.", "No add-ons."),
    "js.usage": (
        "{month}: abgerechnet {spent} USD, reserviert {reserved} USD; weich {soft}, hart {hard}.",
        "{month}: settled {spent} USD, reserved {reserved} USD; soft {soft}, hard {hard}.",
    ),
    "js.cooldownValue": ("Warnungs-Pause {minutes} Minuten.", "Alert cooldown {minutes} minutes."),
    "js.badCooldown": (
        "Die Warnungs-Pause ist eine ganze Zahl von 1 bis 10080 Minuten, oder leer.",
        "The alert cooldown is a whole number from 1 to 10080 minutes, or empty.",
    ),
    "js.badMoney": (
        "Bitte einen Betrag in USD mit höchstens sechs Nachkommastellen eingeben.",
        "Please enter an amount in USD with at most six decimals.",
    ),
    "js.termsSource.platform": (
        "Es gilt die Plattform-Liste ({count} Begriffe).",
        "The platform's list holds ({count} terms).",
    ),
    "js.termsSource.stored": (
        "Es gilt die gespeicherte Liste ({count} Begriffe).",
        "The stored list holds ({count} terms).",
    ),
    "js.preview.ok": ("Gesendet würde: „{prompt}“", "It would send: “{prompt}”"),
    "js.preview.negative": ("Negativ-Prompt: „{prompt}“", "Negative prompt: “{prompt}”"),
    "js.preview.blocked": (
        "Die geltende Blockliste würde das ablehnen (prompt_blocked, Feld {field}).",
        "The block list in force would refuse this (prompt_blocked, field {field}).",
    ),
    "js.report": (
        "{command}: gefunden {found}, {verb} {changed}, übersprungen {skipped}, "
        "fehlgeschlagen {failed}.",
        "{command}: found {found}, {verb} {changed}, skipped {skipped}, failed {failed}.",
    ),
    "js.report.dry": ("Probelauf: nichts wurde geändert.", "Dry run: nothing changed."),
}

ADMIN: dict[Lang, dict[str, str]] = {
    lang: {key: pair[index] for key, pair in _PAIRS.items()} for index, lang in enumerate(LANGS)
}
