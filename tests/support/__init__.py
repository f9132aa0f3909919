"""Helpers shared between test modules (test modules never import each other)."""
