"""CPU time and memory of processes, read from ``/proc``.

Why from ``/proc`` and not ``resource.getrusage(RUSAGE_CHILDREN)``: the servers under test are still
running while they are measured, and a server may fork or exec (uvicorn workers, ``aimux serve``), so
the benchmarks sum ``utime``/``stime`` over the live process tree before and after a timed phase.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Sequence
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_stat(pid: int) -> tuple[int, int, int]:
    """(ppid, utime, stime) of one process in clock ticks; fields after the last ')' (comm may hold any)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]), int(fields[12])


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (uvicorn with workers forks; ``aimux serve`` may exec)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = read_stat(int(entry.name))[0]
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:  # bounded: the process table is finite and a tree
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(pids: Sequence[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pids`` so far (resolution: one clock tick); exited ones count 0."""
    user = system = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            _, utime, stime = read_stat(pid)
            user, system = user + utime, system + stime
    return user / CLK_TCK, system / CLK_TCK


def tree_rss_kb(pids: Sequence[int]) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB summed over ``pids`` (from /proc/<pid>/status)."""
    rss = hwm = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
    return rss, hwm


def self_cpu_seconds() -> float:
    """User + system CPU seconds of this process: the load generator's own cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
