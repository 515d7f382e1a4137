"""``linux_capabilities`` → the ``security.capability`` xattr ko writes on the binary (§9.8).

Terms are capability names (``net_bind_service``, ``CAP_CHOWN``, ``all``, or an index 0–63),
which add to the *permitted* set, or ``cap_from_text`` clauses ``names(+|-|=)flags…`` with
flags ``p``, ``i``, ``e`` (``=`` with no names means every capability). The result is a
20-byte little-endian ``vfs_cap_data`` revision 2: ``magic|flags``, then permitted and
inheritable low words, then permitted and inheritable high words; the effective flag is set
when any capability is effective. No permitted or inheritable bit means no xattr.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from kotasks.errors import ConfigError

NAMES = ("chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
         "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
         "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
         "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
         "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
         "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
         "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore")
_REVISION_2 = 0x02000000
_EFFECTIVE = 0x000001
_CLAUSE = re.compile(r"^([^+\-=]*)((?:[+\-=][pie]*)+)$")


def _capability(name: str, where: str, key: str) -> list[int]:
    lowered = name.lower().removeprefix("cap_")
    if lowered == "all":
        return list(range(len(NAMES)))
    if lowered.isdigit() and int(lowered) < 64:
        return [int(lowered)]
    if lowered in NAMES:
        return [NAMES.index(lowered)]
    raise ConfigError(where, key, f"unknown capability {name!r} (expected a name such as "
                                  "net_bind_service, a number 0-63, or all)")


def capability_xattr(terms: Sequence[str], where: str, key: str) -> bytes | None:
    """Encode the xattr for ``terms`` (None when no capability is granted)."""
    permitted: set[int] = set()
    inheritable: set[int] = set()
    effective: set[int] = set()
    for term in terms:
        match = _CLAUSE.match(term)
        if match is None:
            permitted.update(_capability(term, where, key))
            continue
        names = [n for n in match.group(1).split(",") if n]
        caps = [c for n in names for c in _capability(n, where, key)] or list(range(len(NAMES)))
        for op, flags in re.findall(r"([+\-=])([pie]*)", match.group(2)):
            for flag, target in (("p", permitted), ("i", inheritable), ("e", effective)):
                if op == "=":
                    target.difference_update(caps)
                if op in "+=" and flag in flags:
                    target.update(caps)
                elif op == "-" and flag in flags:
                    target.difference_update(caps)
    if not permitted and not inheritable:
        return None

    def words(caps: set[int]) -> tuple[int, int]:
        bits = sum(1 << c for c in caps)
        return bits & 0xFFFFFFFF, bits >> 32

    perm_lo, perm_hi = words(permitted)
    inh_lo, inh_hi = words(inheritable)
    magic = _REVISION_2 | (_EFFECTIVE if effective else 0)
    return struct.pack("<5I", magic, perm_lo, inh_lo, perm_hi, inh_hi)
