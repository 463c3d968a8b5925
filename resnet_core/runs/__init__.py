"""Runs as the user knows them: the SQLite run store, running one run from config to stored result,
the background job manager (one run per device), one run over several devices (group: torchrun
launched as a subprocess; ddp_worker: each of its processes; group_progress: rank 0's progress
replayed), start-up recovery of a workspace, and the plain sentence a failed background job shows
(job_errors).

May import: the base modules, `data` and `training`.
"""
