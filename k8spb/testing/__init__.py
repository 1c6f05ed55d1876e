"""Helpers for testing against an in-memory Kubernetes API server."""
