/* exp, log and tanh in float and double, written so that gcc -O3 vectorises the loops that call
 * them (no -ffast-math, no libmvec): straight-line code, range reduction plus a polynomial, every
 * special case a select rather than a branch, bit casts through memcpy. libm's expf/logf/tanhf are
 * calls gcc cannot vectorise, which made every sigmoid, tanh, softmax and cross-entropy loop scalar.
 *
 * Accuracy against libm (tests/test_simd.py; every 7th float32 bit pattern and 2e7 float64 draws):
 * float32 exp and log within 1 ulp, tanh 2; float64 log within 1 ulp, exp and tanh 2. Special values as libm and as the finiteness checks
 * expect: exp(+inf) = inf, exp(-inf) = 0, overflow to inf and underflow through the subnormals to
 * 0; log(0) = -inf, log(x < 0) = nan, log(+inf) = inf, subnormal arguments exact; tanh(+-inf) =
 * +-1, tanh(-0) = -0; nan in, nan out. No floating-point contraction is assumed (setup.py builds
 * with -ffp-contract=off), so every SIMD build computes the same bits.
 *
 * Sources of the approximations: the exp polynomial (float) and Pade form (double) are Cephes'
 * (Moshier), with its Cody-Waite split of ln 2; log is the fdlibm/musl reduction to
 * [sqrt(2)/2, sqrt(2)) and its minimax series in s = f / (2 + f); the tanh polynomials for
 * |x| < 0.55 are least-squares fits made for this file (bench/vecmath_fit.py), and
 * 1 - 2 / (exp(2|x|) + 1) above.
 */
#ifndef CYNEURON_VECMATH_H
#define CYNEURON_VECMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

static inline uint32_t cyn_f2u(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline float cyn_u2f(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint64_t cyn_d2u(double d) { uint64_t u; memcpy(&u, &d, sizeof u); return u; }
static inline double cyn_u2d(uint64_t u) { double d; memcpy(&d, &u, sizeof d); return d; }

/* ------------------------------------------------------------------------------------- exp */
static inline float cyn_expf(float x) {
    /* Clamped so 2^n stays representable as two factors; a nan passes both selects. exp(89) is
     * inf and exp(-104) rounds to 0, as every larger / smaller argument. */
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > 89.0f ? 89.0f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    float k = xc * 1.44269504088896341f + shifter;
    float n = k - shifter;
    /* n = n1 + n2, each half in the normal exponent range, so results in the subnormals are right */
    float k1 = n * 0.5f + shifter;
    uint32_t n1 = cyn_f2u(k1) - cyn_f2u(shifter);
    uint32_t n2 = (cyn_f2u(k) - cyn_f2u(shifter)) - n1;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    return (y * cyn_u2f((n1 + 127u) << 23)) * cyn_u2f((n2 + 127u) << 23);
}

static inline double cyn_exp(double x) {
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double xc = x > 710.0 ? 710.0 : x;
    xc = xc < -746.0 ? -746.0 : xc;
    double k = xc * 1.4426950408889634074 + shifter;
    double n = k - shifter;
    double k1 = n * 0.5 + shifter;
    uint64_t n1 = cyn_d2u(k1) - cyn_d2u(shifter);
    uint64_t n2 = (cyn_d2u(k) - cyn_d2u(shifter)) - n1;
    double r = xc - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    double rr = r * r;
    double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                     + 9.99999999999999999910e-1);
    double q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
                + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
    double y = 1.0 + 2.0 * (px / (q - px));
    return (y * cyn_u2d((n1 + 1023u) << 52)) * cyn_u2d((n2 + 1023u) << 52);
}

/* ------------------------------------------------------------------------------------- log */
static inline float cyn_logf(float x) {
    int sub = x < 1.17549435e-38f; /* subnormal (or <= 0: replaced below): scale by 2^25 first */
    float xs = sub ? x * 33554432.0f : x;
    float kadj = sub ? -25.0f : 0.0f;
    uint32_t ix = cyn_f2u(xs) + (0x3f800000u - 0x3f3504f3u);
    /* exponent as a float through the bits of 2^23 + e (no int-to-float conversion needed) */
    float dk = (cyn_u2f(0x4b000000u | (ix >> 23)) - 8388608.0f) - 127.0f + kadj;
    float f = cyn_u2f((ix & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s, w = z * z;
    float t1 = w * (0.40000972152f + w * 0.24279078841f);
    float t2 = z * (0.66666662693f + w * 0.28498786688f);
    float hfsq = 0.5f * f * f;
    float r = s * (hfsq + (t2 + t1)) + dk * 9.0580006145e-06f - hfsq + f + dk * 6.9313812256e-01f;
    r = x < 0.0f ? NAN : r;
    r = x == 0.0f ? -INFINITY : r;
    r = x == INFINITY ? x : r;
    return x != x ? x : r;
}

static inline double cyn_log(double x) {
    int sub = x < 2.2250738585072014e-308;
    double xs = sub ? x * 18014398509481984.0 : x; /* 2^54 */
    double kadj = sub ? -54.0 : 0.0;
    uint64_t ix = cyn_d2u(xs) + ((uint64_t)(0x3ff00000u - 0x3fe6a09eu) << 32);
    double dk = (cyn_u2d(0x4330000000000000ull | (ix >> 52)) - 4503599627370496.0) - 1023.0 + kadj;
    double f = cyn_u2d((ix & 0x000fffffffffffffull) + ((uint64_t)0x3fe6a09eu << 32)) - 1.0;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s, w = z * z;
    double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    double t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                     + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    double r = s * (hfsq + (t2 + t1)) + dk * 1.90821492927058770002e-10 - hfsq + f
               + dk * 6.93147180369123816490e-01;
    r = x < 0.0 ? NAN : r;
    r = x == 0.0 ? -INFINITY : r;
    r = x == INFINITY ? x : r;
    return x != x ? x : r;
}

/* ------------------------------------------------------------------------------------ tanh */
static inline float cyn_tanhf(float x) {
    float a = fabsf(x);
    float u = a * a;
    float p = -6.2726075141973854308e-3f;
    p = p * u + 2.1070253559787515555e-2f;
    p = p * u - 5.3851865400244343321e-2f;
    p = p * u + 1.3332580377686668750e-1f;
    p = p * u - 3.3333317305647481472e-1f;
    p = a + a * (u * p);
    float q = 1.0f - 2.0f / (cyn_expf(2.0f * a) + 1.0f);
    return copysignf(a < 0.55f ? p : q, x);
}

static inline double cyn_tanh(double x) {
    double a = fabs(x);
    double u = a * a;
    double p = -1.9495565251552224313e-5;
    p = p * u + 8.3317342576113537640e-5;
    p = p * u - 2.3338172884814572564e-4;
    p = p * u + 5.8844431935798522514e-4;
    p = p * u - 1.4555427320499829584e-3;
    p = p * u + 3.5920919976053359234e-3;
    p = p * u - 8.8632325961190495276e-3;
    p = p * u + 2.1869488385348998952e-2;
    p = p * u - 5.3968253963733204442e-2;
    p = p * u + 1.3333333333326545877e-1;
    p = p * u - 3.3333333333333297657e-1;
    p = a + a * (u * p);
    double q = 1.0 - 2.0 / (cyn_exp(2.0 * a) + 1.0);
    return copysign(a < 0.55 ? p : q, x);
}

#endif
