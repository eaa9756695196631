"""The Replicate model versions the platform runs, pinned, in a module of their own: the
model catalog checks a caller's `owner/name:version` against them without importing the
provider's client (httpx) on the request path.

They must be checked against each model's page (replicate.com/<model>/versions) before a
deploy: an owner can push a new version with a different schema. Sources (providers.md §2.9
and public code that calls these models):
- real-esrgan 42fed1c4…: the version of https://replicate.com/p/z52y5vrbmgeyqgub3ebaa3umbq,
  the one most public callers pin (`{image, scale, face_enhance}`);
- gfpgan 9283608c…: the version of https://replicate.com/p/2jnrfzzbnppcltgqlzoyljenti;
- codeformer cc4956dd…: the version of the model's API page.
"""

from __future__ import annotations

from typing import Final

PINNED_VERSIONS: Final[dict[str, str]] = {
    "nightmareai/real-esrgan": "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b",
    "tencentarc/gfpgan": "9283608cc6b7be6b65a8e44983db012355fde4132009bf99d976b2f0896856a3",
    "sczhou/codeformer": "cc4956dd26fa5a7185d5660cc9100fab1b8070a1d1654a8bb5eb6d443b020bb2",
}
