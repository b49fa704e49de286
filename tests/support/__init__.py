"""Helpers for tests that need real services of their own (tests.support.private_services)."""
