"""AI Magic Edits: event guests and tenants request styled edits of event photos."""
