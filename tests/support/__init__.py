"""Helpers for kotasks' tests: a real registry, independent image readers, a container runner."""
