# The window geometry shared by conv2d and the pooling kinds (reference/_window.py), in StageC.dims:
#   dims[0..2] = H, W, C (input)      dims[3..5] = OH, OW, out channels
#   dims[6..7] = kh, kw (window)      dims[8..9] = sh, sw (strides)
#   dims[10..11] = dh, dw (dilation)  dims[12..13] = top, left (padding before)
# Output (oh, ow) tap (i, j) reads input (oh * sh - top + i * dh, ow * sw - left + j * dw).
from cyneuron.stages.stage cimport StageC

cdef enum:
    D_H = 0
    D_W = 1
    D_C = 2
    D_OH = 3
    D_OW = 4
    D_OC = 5
    D_KH = 6
    D_KW = 7
    D_SH = 8
    D_SW = 9
    D_DH = 10
    D_DW = 11
    D_TOP = 12
    D_LEFT = 13
