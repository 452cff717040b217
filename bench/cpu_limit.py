"""A CPU-limited cgroup for bench processes: Lambda's CPU share at a given memory size, on this machine.

Why a cgroup and not ``nice`` or pinning: Lambda enforces its share with a CFS bandwidth quota (a
function at 1,769 MB gets one vCPU, proportionally less below), so a process may run at full speed
until it has used its quota of the period and is then throttled until the next one. The kernel's
CFS bandwidth control does the same: cgroup v2 ``cpu.max`` ("quota period"), or on a cgroup v1
hierarchy ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (the same mechanism, older files).

``CpuLimit(vcpus, period_us)`` creates the group, ``add(pid)`` moves a process into it (children it
spawns later inherit it), and leaving the ``with`` block moves everything back to the parent and
removes the group.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LAMBDA_MB_PER_VCPU = 1769  # AWS: "at 1,769 MB, a function has the equivalent of one vCPU"
V2_ROOT = Path("/sys/fs/cgroup")
V1_ROOT = Path("/sys/fs/cgroup/cpu")


def lambda_vcpus(memory_mb: int) -> float:
    """Lambda's CPU share at ``memory_mb`` (proportional to memory below one vCPU)."""
    return memory_mb / LAMBDA_MB_PER_VCPU


class CpuLimit:
    """A cgroup capping its processes at ``vcpus`` CPUs per ``period_us`` (see the module docstring)."""

    def __init__(self, vcpus: float, period_us: int = 100_000, name: str = "aimux-bench") -> None:
        self.vcpus, self.period_us = vcpus, period_us
        self.quota_us = max(1000, round(vcpus * period_us))  # the kernel refuses quotas under 1 ms
        if (V2_ROOT / "cgroup.controllers").exists():
            self.kind, parent = "cgroup v2 cpu.max", V2_ROOT
        elif (V1_ROOT / "cpu.cfs_quota_us").exists():
            self.kind, parent = "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us", V1_ROOT
        else:
            raise RuntimeError("no writable cgroup CPU controller: use docker run --cpus instead")
        self.parent = parent
        self.path = parent / f"{name}-{os.getpid()}-{round(vcpus * 1000)}"

    def __enter__(self) -> CpuLimit:
        self.path.mkdir()
        if self.kind.startswith("cgroup v2"):
            (self.path / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        return self

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_s(self) -> float:
        """Seconds the group's processes waited for quota so far (``cpu.stat``)."""
        stats = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        if "throttled_usec" in stats:
            return int(stats["throttled_usec"]) / 1e6
        return int(stats.get("throttled_time", 0)) / 1e9

    def __exit__(self, *exc: object) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                (self.parent / "cgroup.procs").write_text(pid)
        self.path.rmdir()
