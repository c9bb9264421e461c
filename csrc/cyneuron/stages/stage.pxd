# The compiled description of one network stage, shared by every stage kind's
# module (stages/<kind>.pxd) and the network (_network.pyx). A kind reads the
# fields it documents; the network owns the memory every pointer addresses.
from libc.stdint cimport int64_t, uint64_t

cdef enum:
    KIND_DENSE = 0
    KIND_ACTIVATION = 1
    KIND_DROPOUT = 2
    KIND_BATCH_NORM = 3
    KIND_CONV2D = 4
    KIND_MAX_POOL2D = 5
    KIND_AVG_POOL2D = 6
    KIND_GLOBAL_AVG_POOL = 7
    KIND_GLOBAL_MAX_POOL = 8
    KIND_AFFINE = 9
    KIND_SIMPLE_RNN = 10
    KIND_LSTM = 11
    KIND_GRU = 12
    KIND_EMBEDDING = 13
    KIND_TRANSPOSE = 14
    KIND_BIDIRECTIONAL = 15
    KIND_PRELU = 16

ctypedef struct StageC:
    int kind
    int act                  # activation code (_core's ACT_*, or an extended one of stages/activation.pxd)
    bint trainable           # params receive gradients and updates
    bint need_dx             # backward must produce dL/dx (an earlier stage trains)
    bint head                # the loss head fuses this (last) stage's activation: backward gets dL/dZ
    Py_ssize_t n_in, n_out   # features per sample
    Py_ssize_t units         # softmax row width; BatchNormalization's channels
    Py_ssize_t inner         # BatchNormalization: per-sample size after the channel axis
    Py_ssize_t dims[16]      # kind-specific sizes (documented in each kind's module)
    double f[8]              # kind-specific numbers (documented in each kind's module)
    bint flag                # kind-specific switch (dropout: per-sample masks)
    int n_params
    void* param[4]           # trainable arrays (the model's), e.g. kernel, bias
    void* grad[4]            # their gradients (training arena)
    int n_state
    void* state[4]           # non-trainable arrays (the model's), e.g. moving mean and variance
    void* pending[4]         # the values ``state`` takes if the step commits (training arena)
    void* out_train          # (train_rows, n_out)
    void* out_infer          # (infer_rows, n_out)
    void* saved              # kind-specific training workspace
    void* saved2             # a second one (kinds that need two)
    void* scratch            # kind-specific scratch shared by forward and backward (training arena)
    const int64_t* noise_map # dropout: per-sample element -> its mask element (NULL: identity)
    const int64_t* index_map # transpose: output element -> the input element it copies; prelu: element -> alpha
    Py_ssize_t noise_width   # dropout: mask elements per sample
    uint64_t seed            # dropout, recurrent: the layer's own seed (when ``flag2``), else the network's
    bint flag2
    void* scratch_infer      # kind-specific inference workspace (inference arena; recurrent kinds)
    void* masks              # recurrent kinds: the dropout masks and their scratch (training arena)
    void* sub                # bidirectional: its two direction stages (forward, backward), owned by the network
    int path                 # how this stage's dense products run (_core's PATH_*): its network's setting
    double act_l1, act_l2    # activity penalty on this stage's output (its layer's activity_regularizer)
    Py_ssize_t fold          # TimeDistributed: the network runs this stage over rows * fold rows of n_in (1: plain)
