"""The memory settings core/__init__.py makes before torch allocates: torch's large blocks on 2 MB pages and glibc
keeping freed memory, unless WTCS_ALLOCATOR=default (benchmarks/allocator.py measures what they change)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A 64 MB tensor freed and made again 20 times: each one is a fresh mapping, its pages faulted in 4 kB at a time by
# default and 2 MB at a time with the settings.
PROBE = """
import resource, core, os, torch
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    x = torch.ones(16 * 1024 * 1024)
    del x
print(os.environ.get("THP_MEM_ALLOC_ENABLE"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def probe(**env) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE", "WTCS_ALLOCATOR")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    return out[0], int(out[1])


def test_importing_core_keeps_large_blocks_mapped_unless_told_to_leave_the_defaults():
    thp, tuned_faults = probe()
    default_thp, default_faults = probe(WTCS_ALLOCATOR="default")
    assert thp == "1" and default_thp == "None"
    if sys.platform.startswith("linux"):
        assert tuned_faults * 4 < default_faults, (tuned_faults, default_faults)
