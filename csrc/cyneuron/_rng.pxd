# The counter-based generator behind Dropout; the same functions as
# src/cyneuron/backend/reference/rng.py, so both backends draw identical masks.
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #define CYN_GOLDEN 0x9E3779B97F4A7C15ULL
    static inline unsigned long long cyn_mix(unsigned long long z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t CYN_GOLDEN
    uint64_t cyn_mix(uint64_t z) noexcept nogil


cdef inline uint64_t stage_key(uint64_t seed, uint64_t step, uint64_t stage) noexcept nogil:
    return cyn_mix(cyn_mix(cyn_mix(seed) ^ (step + 1)) ^ (stage + 1))


cdef inline uint64_t top53(uint64_t key, uint64_t counter) noexcept nogil:
    """The 53 bits ``uniform`` scales to [0, 1)."""
    return cyn_mix(key + (counter + 1) * CYN_GOLDEN) >> 11


cdef inline double uniform(uint64_t key, uint64_t counter) noexcept nogil:
    """A float64 uniform in [0, 1) from the top 53 bits of mix(key + (counter + 1) * golden)."""
    return <double>(cyn_mix(key + (counter + 1) * CYN_GOLDEN) >> 11) * (1.0 / 9007199254740992.0)
