"""What finished runs are worth and how to use them: ranking and the cost-performance front,
prediction and Grad-CAM, export to TorchScript/ONNX and download bundles.

May import: the base modules, `data`, `training` and `runs`.
"""
