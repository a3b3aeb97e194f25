"""Rendering: pinhole cameras, the Gaussian renderer (gsplat on CUDA, PyTorch on CPU), a mesh rasterizer."""
