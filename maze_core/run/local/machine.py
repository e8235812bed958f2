"""What this machine has: CPUs, memory and NVIDIA GPUs (detected, never required)."""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["detect_cpus", "detect_gpus", "detect_memory"]


def detect_cpus() -> int:
    """CPUs this process may run on (respects affinity masks, as in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def detect_memory() -> int:
    """Total physical memory in bytes (0 when unknown, which disables memory accounting)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def detect_gpus() -> tuple[int, int]:
    """(number of visible NVIDIA GPUs, memory of the smallest in bytes), or (0, 0).

    Uses ``nvidia-smi`` when it is on the PATH and honours ``CUDA_VISIBLE_DEVICES``.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0, 0
    try:
        listing = subprocess.run(
            [smi, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0, 0
    sizes = {}
    for line in listing.strip().splitlines():
        index, mib = (part.strip() for part in line.split(","))
        sizes[index] = int(float(mib)) * 2**20
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        sizes = {k: v for k, v in sizes.items() if k in visible.split(",")}
    return len(sizes), min(sizes.values(), default=0)
