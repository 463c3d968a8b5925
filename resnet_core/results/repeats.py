"""The spread of a configuration's repeats: mean and sample standard deviation of a score."""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def mean_sd(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """(mean, sample standard deviation) of the known values; sd None with fewer than two, both None
    with none."""
    known = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not known:
        return None, None
    return statistics.fmean(known), statistics.stdev(known) if len(known) > 1 else None
