"""Weights file formats, each read and written in one module (backends and export both import them).

    cascade_pt     the cascade `.pt` file (and training checkpoints): torch.save of stage specs + weights
    onnx_cascade   the `.onnx` cascade: one subgraph per stage, metadata in metadata_props
    onnx_fp16      an FP16-typed copy of an ONNX graph (for strongly typed TensorRT builds)
    engine_file    the `.engine` container of serialized TensorRT engines
    hashing        sha256 of files and bytes
    atomic         write a file through a unique temporary name and a rename

Only cascade_pt (and onnx_cascade.to_onnx, which exports from PyTorch) import torch, lazily.
"""
