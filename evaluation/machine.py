"""The machine a figure was measured on, in words: timings and reports are machine-specific."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def machine_description() -> str:
    """CPU model and core count (and the GPU where torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, {platform.system()}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text
