"""Test support shared across suites: a real loopback server and wire-grammar checkers."""
