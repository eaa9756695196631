"""Machine codes of provider outcomes that use cases compare against, in a module of their
own: naming one must not import a provider's HTTP stack (httpx) into a function that never
calls a provider."""

from __future__ import annotations

from typing import Final

# The code of a call that ran out of time: the run may still finish at the provider.
TIMEOUT_CODE: Final = "provider_timeout"
