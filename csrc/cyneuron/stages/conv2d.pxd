# Kind "conv2d" (reference/conv2d.py): im2col + one product over the whole batch.
# dims: stages/_window.pxd's layout (dims[5] = F); act one of _core's five (softmax over F);
# param[0] kernel (kh, kw, C, F) = a (kh*kw*C, F) matrix, param[1] bias (F) or NULL.
# flag: "direct" (1x1 kernel, unit strides, no padding): the input already is the column matrix.
# Workspaces: saved = training columns (train_rows * OH*OW, kh*kw*C), scratch = their gradient
# (need_dx and not direct), saved2 = inference columns (infer_rows * ...).
from cython cimport floating
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core
from cyneuron.stages._window cimport (
    D_C, D_DH, D_DW, D_H, D_KH, D_KW, D_LEFT, D_OC, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W,
)
from cyneuron.stages.stage cimport StageC


cdef inline Py_ssize_t col_width(StageC* s) noexcept nogil:
    return s.dims[D_KH] * s.dims[D_KW] * s.dims[D_C]


cdef inline Py_ssize_t positions(StageC* s) noexcept nogil:
    return s.dims[D_OH] * s.dims[D_OW]


cdef inline void add_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[0:n] += src[0:n] (dst and src never overlap: output and column buffers)."""
    cdef Py_ssize_t q
    for q in range(n):
        dst[q] = dst[q] + src[q]


cdef inline void tap_run(StageC* s, Py_ssize_t ow, Py_ssize_t* j0, Py_ssize_t* j1) noexcept nogil:
    """The kernel columns [j0, j1) of output column ``ow`` that read inside the image (dilation 1:
    they read consecutive input columns, a contiguous run of (j1 - j0) * C elements in NHWC)."""
    cdef Py_ssize_t iw0 = ow * s.dims[D_SW] - s.dims[D_LEFT], KW = s.dims[D_KW], W = s.dims[D_W]
    j0[0] = -iw0 if iw0 < 0 else 0
    j1[0] = W - iw0 if iw0 + KW > W else KW
    if j1[0] < j0[0]:
        j1[0] = j0[0]


cdef inline void im2col(floating* tag, StageC* s, const floating* x, floating* cols, Py_ssize_t rows) noexcept nogil:
    """cols (rows * OH * OW, kh * kw * C): each output position's window, zeros for padding."""
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, j0, j1, q, n_in = H * W * C, run = KW * C
    cdef const floating* xr
    cdef const floating* src
    cdef floating* dst = cols
    if s.dims[D_DW] == 1:
        # per kernel row: zeros for the taps left of the image, one contiguous copy, zeros after
        for r in range(rows):
            xr = x + r * n_in
            for oh in range(OH):
                for ow in range(OW):
                    tap_run(s, ow, &j0, &j1)
                    iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j0
                    for i in range(KH):
                        ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                        if ih < 0 or ih >= H or j1 == j0:
                            memset(dst, 0, run * sizeof(floating))
                        else:
                            if j0 > 0:
                                memset(dst, 0, j0 * C * sizeof(floating))
                            memcpy(dst + j0 * C, xr + (ih * W + iw) * C, (j1 - j0) * C * sizeof(floating))
                            if j1 < KW:
                                memset(dst + j1 * C, 0, (KW - j1) * C * sizeof(floating))
                        dst += run
        return
    for r in range(rows):
        xr = x + r * n_in
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                    if ih < 0 or ih >= H:
                        memset(dst, 0, KW * C * sizeof(floating))
                        dst += KW * C
                        continue
                    for j in range(KW):
                        iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j * s.dims[D_DW]
                        if iw < 0 or iw >= W:
                            for c in range(C):
                                dst[c] = 0
                        else:
                            src = xr + (ih * W + iw) * C
                            for c in range(C):
                                dst[c] = src[c]
                        dst += C


cdef inline void col2im(floating* tag, StageC* s, const floating* dcols, floating* dx, Py_ssize_t rows) noexcept nogil:
    """dx (rows, H*W*C) = the scatter-add of dcols back to the elements each column entry read."""
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, j0, j1, q, n, n_in = H * W * C, run = KW * C
    cdef floating* xr
    cdef floating* dst
    cdef const floating* src = dcols
    memset(dx, 0, rows * n_in * sizeof(floating))
    if s.dims[D_DW] == 1:
        # per kernel row: one contiguous run added (taps in the same order as the general loop)
        for r in range(rows):
            xr = dx + r * n_in
            for oh in range(OH):
                for ow in range(OW):
                    tap_run(s, ow, &j0, &j1)
                    iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j0
                    n = (j1 - j0) * C
                    for i in range(KH):
                        ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                        if ih >= 0 and ih < H and n > 0:
                            add_run(xr + (ih * W + iw) * C, src + j0 * C, n)
                        src += run
        return
    for r in range(rows):
        xr = dx + r * n_in
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                    if ih < 0 or ih >= H:
                        src += KW * C
                        continue
                    for j in range(KW):
                        iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j * s.dims[D_DW]
                        if iw >= 0 and iw < W:
                            dst = xr + (ih * W + iw) * C
                            for c in range(C):
                                dst[c] = dst[c] + src[c]
                        src += C


# im2col and its product run a few samples at a time, so the column block the product packs (and the
# pre-activation block the epilogue passes over) is still in L2 when read; likewise the column
# gradient's product and col2im in backward. Only the row split changes: each output row's values
# are computed exactly as by one whole-batch product.
cdef enum:
    CHUNK_BYTES = 256 * 1024


cdef inline Py_ssize_t chunk_rows(StageC* s, Py_ssize_t rows, Py_ssize_t itemsize) noexcept nogil:
    cdef Py_ssize_t per_row = positions(s) * col_width(s) * itemsize, n
    n = CHUNK_BYTES // per_row if per_row > 0 else rows
    if n < 1:
        n = 1
    return n if n < rows else rows


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, floating* z,
                         Py_ssize_t rows, bint training) noexcept nogil:
    """y (rows, OH*OW*F) = act(im2col(x) @ K + b); ``z`` receives the pre-activation (NULL: in place)."""
    cdef floating* cols = <floating*>(s.saved if training else s.saved2)
    cdef Py_ssize_t p = positions(s), kk = col_width(s), f = s.dims[D_OC]
    cdef Py_ssize_t n_in = s.dims[D_H] * s.dims[D_W] * s.dims[D_C], r0, n, step
    cdef floating* zz = z if z != NULL else y
    if s.flag:
        core.dense_forward(<const floating*>x, <const floating*>s.param[0], <const floating*>s.param[1], s.act,
                           zz, y, rows * p, kk, f)
        return
    step = chunk_rows(s, rows, sizeof(floating))
    r0 = 0
    while r0 < rows:
        n = step if r0 + step <= rows else rows - r0
        im2col(tag, s, x + r0 * n_in, cols + r0 * p * kk, n)
        core.dense_forward(<const floating*>(cols + r0 * p * kk), <const floating*>s.param[0],
                           <const floating*>s.param[1], s.act, zz + r0 * p * f, y + r0 * p * f, n * p, kk, f)
        r0 += n


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dy is dL/dA (dL/dZ when ``s.head``), overwritten with dL/dZ; kernel/bias gradients from the
    forward's columns (trainable), dx through the column gradient and col2im (need_dx), a few samples
    at a time through the front of ``scratch``."""
    cdef Py_ssize_t p = positions(s), m = rows * p, kk = col_width(s), f = s.dims[D_OC]
    cdef Py_ssize_t n_in = s.dims[D_H] * s.dims[D_W] * s.dims[D_C], r0, n, step
    cdef const floating* cols = <const floating*>s.saved
    if s.flag:
        cols = x
    if not s.head:
        core.activation_backward(s.act, y, y, dy, dy, m, f)
    if s.trainable:
        core.matmul_xt_g(cols, dy, <floating*>s.grad[0], m, kk, f)
        if s.param[1] != NULL:
            core.column_sums(dy, <floating*>s.grad[1], m, f)
    if s.need_dx:
        if s.flag:
            core.matmul_g_wt(dy, <const floating*>s.param[0], dx, m, kk, f)
        else:
            step = chunk_rows(s, rows, sizeof(floating))
            r0 = 0
            while r0 < rows:
                n = step if r0 + step <= rows else rows - r0
                core.matmul_g_wt(dy + r0 * p * f, <const floating*>s.param[0], <floating*>s.scratch, n * p, kk, f)
                col2im(tag, s, <const floating*>s.scratch, dx + r0 * n_in, n)
                r0 += n
