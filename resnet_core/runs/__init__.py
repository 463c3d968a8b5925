"""Runs as the user knows them: the SQLite run store, running one run from config to stored result,
the background job manager (one run per device), and start-up recovery of a workspace.

May import: the base modules, `data` and `training`.
"""
