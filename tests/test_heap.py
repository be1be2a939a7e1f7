"""retain_cpu_heap: freed tensors' memory stays in the process (checked in a fresh interpreter: it is process-wide)."""
import subprocess
import sys

import pytest

from gsam_lab.heap import heap_bytes, retain_cpu_heap

_PROBE = """
import torch
from gsam_lab.heap import retain_cpu_heap, heap_bytes
applied = retain_cpu_heap() if {retain} else None
a0 = heap_bytes()
x = torch.empty(5 << 20).fill_(1.0)      # 20 MB
del x
print(applied, (heap_bytes() - a0) >> 20)
"""


def _kept_mb(retain: bool):
    out = subprocess.run([sys.executable, "-c", _PROBE.format(retain=retain)], capture_output=True, text=True, check=True)
    applied, kept = out.stdout.split()
    return applied, int(kept)


@pytest.mark.skipif(heap_bytes() is None, reason="needs glibc 2.33+ (mallinfo2)")
def test_a_freed_20_mb_tensor_stays_in_the_heap_only_when_retained():
    applied, kept = _kept_mb(retain=True)
    assert applied == "True" and kept >= 20
    _, kept_default = _kept_mb(retain=False)
    assert kept_default < 20                 # glibc's default: its own mmap, returned on free


@pytest.mark.parametrize("kw", [dict(mmap_threshold_mb=0), dict(mmap_threshold_mb=64), dict(top_pad_mb=0)])
def test_sizes_out_of_range_are_refused(kw):
    with pytest.raises(ValueError, match="mmap_threshold_mb|top_pad_mb"):
        retain_cpu_heap(**kw)
