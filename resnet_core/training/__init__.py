"""Training one model: the ResNet classifiers and their starting weights (ImageNet cache, users'
files and uploads), the engine (fit = train_one_epoch + evaluate), its callbacks and checkpoints,
and one rank's part of a DDP run (distributed: the process group, shards, sums across ranks).

Knows nothing of runs, stores or pages: it trains what `TrainConfig` says on the tensors `data` prepares.
May import: the base modules and `data`.
"""
