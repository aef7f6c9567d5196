"""bfloat16 or float32 on the CPU: the one choice behind SAM's inference and the universal model's training.

No torch import at module level, so settings can validate a configured value cheaply.
"""

from __future__ import annotations

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_precision(precision: str, *, what: str = "") -> str:
    """``auto`` -> ``bf16`` on CPUs with native bfloat16 (AVX512-BF16 / AMX), else ``fp32``.

    Elsewhere bfloat16 is emulated and slower than float32. ``what`` names the setting in the
    error for a value outside ``PRECISIONS``.
    """
    if precision not in PRECISIONS:
        label = f"{what} precision" if what else "precision"
        raise ValueError(f"unknown {label} {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        import torch

        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return "bf16" if native else "fp32"
    return precision
