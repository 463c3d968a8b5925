"""The benchmark, apart from the product: the plain PyTorch loop we compare against, the worker
that measures one run in a fresh process, the side-by-side report and the speed switches.

May import: every core package except `cli` and `views`.
"""
