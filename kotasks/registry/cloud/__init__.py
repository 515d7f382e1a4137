"""Registry credentials from cloud SDKs (optional extras), one module per cloud.

Each module turns the credentials a cloud's SDK finds in the environment into registry
credentials for that cloud's registry hosts, or raises :class:`NotConfigured` saying what is
missing (the extra, or the variables to set). The SDKs are imported only when a registry of
theirs asks for credentials. Tokens stay in memory; nothing here logs or prints one.
"""

from __future__ import annotations


class NotConfigured(Exception):
    """A keychain could not give credentials; the message says what to install or set."""


def hostname(registry: str) -> str:
    """The host of a ``host[:port]`` registry name."""
    host, _, port = registry.rpartition(":")
    return host if host and port.isdigit() else registry
