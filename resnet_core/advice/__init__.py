"""What to train: the model cards as data, the recommendation, planning a run's TrainConfig from it,
training-time estimates measured on this machine, and what earlier runs measured.

May import: the base modules, `data`, `training`, `runs` and `results` (the estimate times the
engine's own step; measured advice reads the run store).
"""
