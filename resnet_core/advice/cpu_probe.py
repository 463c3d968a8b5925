"""Measuring this CPU for the Wizard's advice (cpu_speed.py): real training steps of the model at the
card's batch and larger ones at the card's image size, then smaller image sizes at the fastest batch."""
from __future__ import annotations

from collections.abc import Callable

from resnet_core.advice.cpu_speed import CpuSpeed, points_to_measure, smaller_sizes
from resnet_core.advice.estimate import exact_throughput


def measure_cpu_speed(model: str, card_batch: int, card_size: int, max_batch: int, machine: str,
                      fine_tune: bool = True, steps: int = 2,
                      on_point: Callable[[int, int], None] | None = None) -> CpuSpeed:
    """Images per second at each point; a batch that does not fit in memory is left out.

    on_point(done, total) after each point, for a progress bar. Takes about a minute at 224 px on a
    two-core CPU (the batches of the card's size dominate).
    """
    first = points_to_measure(card_batch, card_size, max_batch)
    total = len(first) + len(smaller_sizes(card_size))
    rates: list[tuple[int, int, float]] = []
    done = 0

    def measure(batch: int, size: int) -> None:
        nonlocal done
        try:
            rates.append((batch, size, exact_throughput(model, batch, size, fine_tune, "cpu", steps)))
        except (RuntimeError, MemoryError):  # out of memory at this batch: not a point to advise
            pass
        done += 1
        if on_point:
            on_point(done, total)

    for batch, size in first:
        measure(batch, size)
    if rates:
        fastest = max(rates, key=lambda p: p[2])[0]
        for size in smaller_sizes(card_size):
            measure(fastest, size)
    return CpuSpeed(model, fine_tune, machine, tuple(rates))
