"""ONNX export of a trained model (``onnx_export``) and its check against ONNX Runtime and
the PyTorch model (``onnx_check``)."""
