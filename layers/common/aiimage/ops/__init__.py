"""Operations commands of Magic Edits (the seed runbook's section 8), one module each,
shared by the CLI (`python -m aiimage.ops …`) and the scheduled function (`ops_scheduled`):

- `recover` — requests stuck in `queued`/`processing` (found through the sparse index
  `ByActiveStatus`), listed, requeued or failed;
- `prune` — requests, their stored images and ledger lines past retention (index `ByMonth`);
- `backfill` — succeeded requests that only have the provider's URL get their stored copy;
- `quarantine` — direct uploads never consumed, deleted from `quarantine/` (both products);
- `dispatch` — queued requests sent to the submit queue when `queue_auto_dispatch` is off;
- `kill_switch` — the global `is_enabled` / `status_message`.

Every command returns a `Report`: what it found and changed, and whether anything failed.
"""
