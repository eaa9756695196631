"""Local stack and build-side tooling (not deployed)."""
