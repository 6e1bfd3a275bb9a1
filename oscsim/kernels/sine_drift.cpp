// Fused CPU kernels of the AIS phase velocity for H = sin (oscsim/drift.py, _SineDrift).
//
// Layout: phases [N, B] row-major (one row per oscillator, the batch contiguous); the symmetric
// coupling matrix K in CSR (int32 crow/col, values already times 2π). Per stage the forward pass
// is two sweeps over the rows: sin/cos of every phase, then per row the sparse sums
// Ks = Σ_j K_ij sin θ_j, Kc = Σ_j K_ij cos θ_j and the phase velocity
//     f = cos θ (Ks − 2σ sin θ) − sin θ Kc + δ − ρ sin θ,
// where torch would run a dozen passes over memory. The backward pass mirrors it and also
// writes dL/dK per stored entry (a sampled dense product). Each row is computed by one thread in
// a fixed order, so results do not depend on the thread count. Plain C ABI (read by ctypes):
// no torch headers, so it compiles in about a second; OpenMP is torch's own runtime (same
// soname), so torch.set_num_threads governs it.
#include <cmath>
#include <cstdint>

#include "csr_rk.h"

namespace {

// sin and cos, branch-free so the loop over the batch vectorises: reduction by π/2 (Cody–Waite,
// the constant split so that q·part is exact for |q| < 2^16), the quadrant from q's two low bits,
// and the cephes minimax polynomials on [−π/4, π/4]. float64: within 1 ulp of libm. float32:
// within 1 ulp (7e-8 absolute for |x| < 60 rad; torch's own sin/cos: 4e-8).
template <typename T, typename I>
inline void sincos_quadrant(T q, T s, T c, T& s_out, T& c_out) {
  const I n = static_cast<I>(q);
  const bool swap = n & 1;
  const T sv = swap ? c : s;
  const T cv = swap ? s : c;
  s_out = (n & 2) ? -sv : sv;
  c_out = ((n + 1) & 2) ? -cv : cv;
}

inline void sincos_one(double x, double& s_out, double& c_out) {
  const double q = std::nearbyint(x * 0.636619772367581343076);
  const double r = (x - q * 1.57079632673412561417) - q * 6.07710050650619224932e-11;
  const double z = r * r;
  const double ps = ((((1.58962301576546568060e-10 * z - 2.50507477628578072866e-8) * z +
                       2.75573136213857245213e-6) * z - 1.98412698295895385996e-4) * z +
                     8.33333333332211858878e-3) * z - 1.66666666666666307295e-1;
  const double pc = ((((-1.13585365213876817300e-11 * z + 2.08757008419747316778e-9) * z -
                       2.75573141792967388112e-7) * z + 2.48015872888517045348e-5) * z -
                     1.38888888888730564116e-3) * z + 4.16666666666665929218e-2;
  sincos_quadrant<double, int32_t>(q, r + r * z * ps, (1.0 - 0.5 * z) + z * z * pc, s_out, c_out);
}

inline void sincos_one(float x, float& s_out, float& c_out) {
  const float q = std::nearbyint(x * 0.636619772367581343f);
  const float r = ((x - q * 1.5703125f) - q * 4.837512969970703125e-4f) - q * 7.54978995489188216e-8f;
  const float z = r * r;
  const float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) *
                      z * z -
                  0.5f * z + 1.0f;
  sincos_quadrant<float, int32_t>(q, s, c, s_out, c_out);
}

template <typename T>
inline void sincos_row(const T* theta, T* s, T* c, int64_t b) {
#pragma omp simd
  for (int64_t k = 0; k < b; ++k) sincos_one(theta[k], s[k], c[k]);
}

// The sine drift of one stage as an rk_step policy: prepare writes row i's [sin|cos] into x,
// velocity its sparse sums K @ [sin|cos] into acc and its phase velocity into out.
template <typename T>
struct SineStage {
  static constexpr bool kPrepare = true;
  int64_t b;
  const int32_t *crow, *col;
  const T *val, *delta, *sigma, *rho;
  T *x, *acc;  // [N, 2B] each

  [[gnu::always_inline]] void prepare(const T* in, int64_t i) const {
    sincos_row<T>(in + i * b, x + i * 2 * b, x + i * 2 * b + b, b);
  }

  [[gnu::always_inline]] void velocity(const T*, int64_t i, T* o) const {
    const int64_t w = 2 * b;
    T* yi = acc + i * w;
    oscsim::row_product<T>(crow, col, val, x, i, w, yi);
    const T* s = x + i * w;
    const T* c = s + b;
    const T d = delta[i], sg2 = T(2) * sigma[i], r = rho ? rho[i] : T(0);
#pragma omp simd
    for (int64_t k = 0; k < b; ++k)
      o[k] = c[k] * (yi[k] - sg2 * s[k]) - s[k] * yi[b + k] + d - r * s[k];
  }
};

template <typename T>
void forward(int64_t n, int64_t b, const T* theta, const int32_t* crow, const int32_t* col,
             const T* val, const T* delta, const T* sigma, const T* rho, T* x, T* y, T* out) {
  const SineStage<T> stage{b, crow, col, val, delta, sigma, rho, x, y};
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) stage.prepare(theta, i);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) stage.velocity(theta, i, out + i * b);
  }
}

// g: dL/df [N, B]; x = [sin|cos], y = [Ks|Kc] saved by forward; pq: scratch [2, N, 2B].
// Outputs (each may be null): dL/dθ [N, B], dL/dK per stored entry [nnz], dL/dδ, dL/dσ, dL/dρ [N].
template <typename T>
void backward(int64_t n, int64_t b, const T* g, const T* x, const T* y, const int32_t* crow,
              const int32_t* col, const T* val, const T* sigma, const T* rho, T* pq,
              T* grad_theta, T* grad_entries, T* grad_delta, T* grad_sigma, T* grad_rho) {
  const int64_t w = 2 * b;
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const T* gi = g + i * b;
      const T* s = x + i * w;
      const T* c = s + b;
      T* p = pq + i * w;
      T* q = p + b;
      T sum_g = 0, sum_qc = 0, sum_q = 0;
#pragma omp simd reduction(+ : sum_g, sum_qc, sum_q)
      for (int64_t k = 0; k < b; ++k) {
        p[k] = gi[k] * c[k];
        q[k] = -gi[k] * s[k];
        sum_g += gi[k];
        sum_qc += q[k] * c[k];
        sum_q += q[k];
      }
      if (grad_delta) grad_delta[i] = sum_g;
      if (grad_sigma) grad_sigma[i] = T(2) * sum_qc;
      if (grad_rho) grad_rho[i] = sum_q;
    }
    if (grad_theta || grad_entries) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        const T* pqi = pq + i * w;
        if (grad_entries) oscsim::row_dots<T>(crow, col, pqi, x, i, w, grad_entries);
        if (grad_theta) {
          T* acc = pq + n * w + i * w;  // scratch rows
          oscsim::row_product<T>(crow, col, val, pq, i, w, acc);
          const T* s = x + i * w;
          const T* c = s + b;
          const T* ks = y + i * w;
          const T* kc = ks + b;
          const T* p = pqi;
          const T* q = pqi + b;
          const T sg2 = T(2) * sigma[i], r = rho ? rho[i] : T(0);
          T* gt = grad_theta + i * b;
#pragma omp simd
          for (int64_t k = 0; k < b; ++k)
            gt[k] = q[k] * ks[k] - p[k] * kc[k] - sg2 * (p[k] * c[k] + q[k] * s[k]) - r * p[k] +
                    c[k] * acc[k] - s[k] * acc[b + k];
        }
      }
    }
  }
}

// One explicit Runge–Kutta step of the sine drift without autograd, in place on theta [N, B]
// (oscsim::rk_step). work: (stages + 5)·N·B: the stage velocities and input, then [sin|cos] and
// the sparse sums of the stage (2·N·B each; sums to work rows, not a per-thread std::vector:
// measured 3x).
template <typename T>
void rk_step(int64_t n, int64_t b, int64_t stages, const double* a, const double* weights,
             double h, T* theta, const int32_t* crow, const int32_t* col, const T* val,
             const T* delta, const T* sigma, const T* rho, T* work) {
  T* x = work + (stages + 1) * n * b;
  const SineStage<T> stage{b, crow, col, val, delta, sigma, rho, x, x + 2 * n * b};
  oscsim::rk_step<T>(n, b, stages, a, weights, h, theta, stage, work);
}

}  // namespace

// The C entry points, one set per storage type: oscsim_sine_drift_{forward,backward}_{f32,f64},
// oscsim_sine_rk_step_{f32,f64}.
#define OSCSIM_SINE_DRIFT_ENTRY_POINTS(T, SUFFIX)                                                \
  void oscsim_sine_drift_forward_##SUFFIX(int64_t n, int64_t b, const T* theta,                 \
                                          const int32_t* crow, const int32_t* col, const T* val, \
                                          const T* delta, const T* sigma, const T* rho, T* x,    \
                                          T* y, T* out) {                                        \
    forward<T>(n, b, theta, crow, col, val, delta, sigma, rho, x, y, out);                       \
  }                                                                                              \
  void oscsim_sine_drift_backward_##SUFFIX(                                                      \
      int64_t n, int64_t b, const T* g, const T* x, const T* y, const int32_t* crow,             \
      const int32_t* col, const T* val, const T* sigma, const T* rho, T* pq, T* grad_theta,      \
      T* grad_entries, T* grad_delta, T* grad_sigma, T* grad_rho) {                              \
    backward<T>(n, b, g, x, y, crow, col, val, sigma, rho, pq, grad_theta, grad_entries,         \
                grad_delta, grad_sigma, grad_rho);                                               \
  }                                                                                              \
  void oscsim_sine_rk_step_##SUFFIX(int64_t n, int64_t b, int64_t stages, const double* a,       \
                                    const double* weights, double h, T* theta,                  \
                                    const int32_t* crow, const int32_t* col, const T* val,      \
                                    const T* delta, const T* sigma, const T* rho, T* work) {     \
    rk_step<T>(n, b, stages, a, weights, h, theta, crow, col, val, delta, sigma, rho, work);     \
  }

extern "C" {
OSCSIM_SINE_DRIFT_ENTRY_POINTS(float, f32)
OSCSIM_SINE_DRIFT_ENTRY_POINTS(double, f64)
}  // extern "C"
