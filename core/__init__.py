"""What the CNN Sees: the machine-learning library behind the app (no UI code here)."""

import ctypes
import os
import sys

# Memory for large tensors, set before torch allocates anything. By default glibc hands every block over 32 MB (and,
# after a free, ones over a few MB) back to the kernel and maps it anew on the next step, so each step of a network at
# 192 px touches hundreds of thousands of fresh pages; training MobileNetV2 there spent a quarter of its time in the
# kernel. Keeping freed memory in the process and letting torch's large blocks use 2 MB pages makes the same step
# faster (benchmarks/allocator.py). WTCS_ALLOCATOR=default leaves both as they were.
if os.environ.get("WTCS_ALLOCATOR") != "default":
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # torch: madvise(MADV_HUGEPAGE) its blocks of 2 MB and more
    if sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: the largest glibc allows (and no more adapting)
            _libc.mallopt(-1, 1024 * 1024 * 1024)  # M_TRIM_THRESHOLD: keep up to 1 GB freed for the next step
            _libc.mallopt(-2, 256 * 1024 * 1024)  # M_TOP_PAD: grow the heap in large steps
        except (OSError, AttributeError):  # not glibc (musl, say): its defaults stay
            pass
