# Marks csrc/cyneuron as the cyneuron package for Cython's cimport resolution.
