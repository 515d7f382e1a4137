"""The doit adapter: the only package that imports doit."""
