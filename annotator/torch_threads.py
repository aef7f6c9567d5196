"""torch's intra-op thread count for one block of model work.

Small models (the click decoder, the universal model at 1024 x 768) run fastest on one thread
per process: on a busy 2-core machine a second OpenMP thread spin-waits for a core and made
them several times slower (docs/bench.md). The big SAM encoder keeps torch's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads (0: torch's default), then restore the previous count.

    ``torch.set_num_threads`` is per process: callers hold their adapter's lock around the block.
    """
    import torch

    before = torch.get_num_threads()
    if count and count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
