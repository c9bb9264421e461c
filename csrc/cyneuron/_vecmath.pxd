# exp, log and tanh that gcc vectorises without -ffast-math (range reduction + polynomial,
# branch-free); accuracy, special values and sources in _vecmath.h. _activations.pxd's _exp /
# _log / _tanh wrap them, so every kernel that cimports those gets them.
cdef extern from "_vecmath.h" nogil:
    float cyn_expf(float x)
    double cyn_exp(double x)
    float cyn_logf(float x)
    double cyn_log(double x)
    float cyn_tanhf(float x)
    double cyn_tanh(double x)
