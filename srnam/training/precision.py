"""Which arithmetic a training run uses: float32, or bfloat16 autocast where the hardware does bfloat16 natively.

bfloat16 pays only where the hardware has it. On a CPU with AVX-512 BF16 (or AMX) the adversarial step ran 2.89×
the float32 one; on a CPU without it (an AMD EPYC with no AVX-512 at all), oneDNN emulates bfloat16 and the same
step ran 13× slower than float32 (issue 31). So ``precision="auto"`` asks the hardware, and ``"bf16"`` or
``"fp32"`` force a choice (``--precision``).
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 (/proc/cpuinfo "flags"); aarch64 lists "bf16" in "Features"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them (x86 "flags", Arm "Features"); empty where unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native_bf16(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    flags = cpu_flags() if flags is None else flags
    arm = platform.machine().lower() in ("aarch64", "arm64")
    return bool(flags & set(BF16_CPU_FLAGS)) or (arm and "bf16" in flags)


def resolve_precision(precision: str, device: torch.device, flags: set[str] | None = None) -> tuple[str, str | None]:
    """``precision`` ("auto", "fp32" or "bf16") → the one used ("fp32" or "bf16"), and a line to print about the
    choice (None when there is nothing to say)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    native = native_bf16(device, flags)
    where = "this CPU (no AVX-512 BF16 or AMX)" if device.type == "cpu" else f"this {device.type} device"
    if precision == "auto":
        if native:
            return "bf16", None
        return "fp32", f"precision: float32, as bfloat16 is not native on {where}; --precision bf16 forces it"
    if precision == "bf16" and not native:
        return "bf16", (f"precision: bfloat16 as asked, but it is emulated on {where}: expect it to be many times "
                        f"slower than float32; --precision auto or fp32 avoids it")
    return precision, None


def describe_cpu(flags: set[str] | None = None) -> str:
    """The CPU in one line, for benchmark reports: its model and the instruction sets that decide their figures."""
    flags = cpu_flags() if flags is None else flags
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "bf16", "asimd", "sve") if f in flags]
    return f"{model}; {', '.join(isa) or 'no AVX2, AVX-512 or BF16 flags'}"
