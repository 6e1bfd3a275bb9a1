// Shared pieces of the fused CPU kernels: CSR row products and an explicit Runge–Kutta step
// over a state [N, W] (one row per oscillator, W columns contiguous), generic in the drift.
//
// Every row is computed by one thread in a fixed order, so results do not depend on the thread
// count. Row functions are forced inline: GCC otherwise judges calls inside OpenMP regions cold
// and leaves them out of line (measured about 1.3x slower). Included by sine_drift.cpp and
// envelope_drift.cpp, which are built into one library.
#pragma once

#include <cstdint>

namespace oscsim {

// acc[0:w] = Σ_p val[p] · src[col[p]·w : col[p]·w + w] over row i's stored entries.
template <typename T>
[[gnu::always_inline]] inline void row_product(const int32_t* crow, const int32_t* col,
                                              const T* val, const T* src, int64_t i,
                                              int64_t w, T* acc) {
  for (int64_t k = 0; k < w; ++k) acc[k] = T(0);
  for (int64_t p = crow[i]; p < crow[i + 1]; ++p) {
    const T v = val[p];
    const T* xj = src + static_cast<int64_t>(col[p]) * w;
#pragma omp simd
    for (int64_t k = 0; k < w; ++k) acc[k] += v * xj[k];
  }
}

// out[p] = a_i · x_j over row i's stored entries (i, j): dL/dK_ij, a sampled dense product.
template <typename T>
__attribute__((noinline)) void row_dots(const int32_t* __restrict crow,
                                        const int32_t* __restrict col, const T* __restrict ai,
                                        const T* __restrict x, int64_t i, int64_t w,
                                        T* __restrict out) {
  for (int64_t p = crow[i]; p < crow[i + 1]; ++p) {
    const T* __restrict xj = x + static_cast<int64_t>(col[p]) * w;
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t k = 0; k < w; ++k) dot += ai[k] * xj[k];
    out[p] = dot;
  }
}

// One explicit Runge–Kutta step without autograd, in place on state [N, W]. Per stage: the
// stage input (a sweep), the drift's optional per-row preparation (a sweep: every row must be
// ready before any row's sparse sum reads it), then each row's velocity; all sweeps of one
// parallel region over preallocated work memory (stages·N·W velocities, N·W stage input), so a
// no-grad rollout allocates nothing per step. a: the Butcher matrix (stages × stages,
// row-major, lower triangle used), weights: b, h: the step size.
//
// D provides: static constexpr bool kPrepare; void prepare(const T* in, int64_t i) const (only
// where kPrepare); void velocity(const T* in, int64_t i, T* out) const (out: row i of the
// stage velocity).
template <typename T, typename D>
void rk_step(int64_t n, int64_t w, int64_t stages, const double* a, const double* weights,
             double h, T* state, const D& drift, T* work) {
  const int64_t nw = n * w;
  T* yi = work + stages * nw;
#pragma omp parallel
  {
    for (int64_t st = 0; st < stages; ++st) {
      const T* in = state;
      if (st > 0) {
        in = yi;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; ++i) {
          T* dst = yi + i * w;
          const T* src = state + i * w;
#pragma omp simd
          for (int64_t k = 0; k < w; ++k) dst[k] = src[k];
          for (int64_t j = 0; j < st; ++j) {
            const T coef = static_cast<T>(h * a[st * stages + j]);
            if (coef == T(0)) continue;
            const T* kj = work + j * nw + i * w;
#pragma omp simd
            for (int64_t k = 0; k < w; ++k) dst[k] += coef * kj[k];
          }
        }
      }
      if constexpr (D::kPrepare) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; ++i) drift.prepare(in, i);
      }
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) drift.velocity(in, i, work + st * nw + i * w);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T* dst = state + i * w;
      for (int64_t j = 0; j < stages; ++j) {
        const T coef = static_cast<T>(h * weights[j]);
        if (coef == T(0)) continue;
        const T* kj = work + j * nw + i * w;
#pragma omp simd
        for (int64_t k = 0; k < w; ++k) dst[k] += coef * kj[k];
      }
    }
  }
}

}  // namespace oscsim
