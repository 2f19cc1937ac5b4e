"""Helpers shared by the test suite (real servers started the way users start them)."""
