"""Readable NumPy reference implementations, the specifications the compiled kernels are tested against."""
