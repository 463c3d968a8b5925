"""The cost-performance study on the user's data: planning every configuration at every size,
running it (queued or here, resumable), and summarising it as ranked tables and a conclusion.

May import: everything below it (base, `data`, `training`, `runs`, `results`, `advice`).
"""
