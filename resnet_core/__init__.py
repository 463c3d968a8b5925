"""ResNet Pilot's core: datasets, the recommendation wizard, training, the run store and prediction.

Nothing in this package imports Streamlit: the dashboard (app.py, pages/) and the command line
(`python -m resnet_core`) are two faces over the same functions.
"""

__version__ = "0.1.0"
