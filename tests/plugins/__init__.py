"""Fixtures shared by the suites, registered with `pytest_plugins` in tests/conftest.py."""
