"""Images in: scanning a folder, the dataset registry, importing, the saved split, decoding and the
decoded-image cache, batched augmentation, and a run's tensors ready to train on. Also the built-in
sample and the generated (synthetic, Fashion-MNIST) folders used by tests and benchmarks.

May import: the base modules (config, fsutil, hardware, workspace). Nothing above it.
"""
