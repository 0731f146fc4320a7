"""Helpers shared by the test suites that run real servers (Label Studio, the backend)."""
