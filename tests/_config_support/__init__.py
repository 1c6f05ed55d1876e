"""Helpers for the configuration and authentication tests: TLS material and exec plugin scripts."""
