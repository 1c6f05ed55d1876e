"""Tests of the in-memory API server helpers (k8spb.testing)."""
