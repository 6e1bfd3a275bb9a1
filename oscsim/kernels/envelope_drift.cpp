// Fused CPU kernels of the complex-envelope velocity (oscsim/envelope.py, EnvelopeDrift).
//
// Layout: state [N, 2B] row-major, one row per cell: the B real parts x, then the B imaginary
// parts y; the symmetric coupling matrix K in CSR (int32, values already times 2π). Per row:
//     a = sqrt(x² + y² + ε), g = π/Q (L n(u* a) − 1) − load, rot = δ + 2π offset(a),
//     dx = (g + σ) x − rot y + (K x) + ρ,   dy = (g − σ) y + rot x + (K y),
// with n and the offsets read from the tank's table exactly as Tank.rates does (linear
// interpolation, the hard-limit asymptote 4 / (π u) beyond it). One sweep per stage where torch
// runs about thirty element-wise ops, and a backward pass of one more sweep (the sparse sums of
// the gradient and dL/dK per stored entry) instead of autograd's record of each of them.
#include <cmath>
#include <cstdint>

#include "csr_rk.h"

namespace {

constexpr double kTwoPi = 6.283185307179586476925;
constexpr double kFourOverPi = 1.273239544735162686151;

// The tank as Tank.rates sees it. params (float64): scale = u*/du (amplitude → table position),
// max_pos (the last position), u* = free_u, u_max (table end in u), π/Q, loop gain L. The
// offset columns are zero for a tank without offsets, so the turning rate is then exactly 0.
template <typename T>
struct Tank {
  const T* table;  // [points, 4]: n, Δn, offset, Δoffset
  T scale, max_pos, free_u, u_max, gain_c, loop_gain;

  Tank(const T* table_, const double* params)
      : table(table_),
        scale(static_cast<T>(params[0])),
        max_pos(static_cast<T>(params[1])),
        free_u(static_cast<T>(params[2])),
        u_max(static_cast<T>(params[3])),
        gain_c(static_cast<T>(params[4])),
        loop_gain(static_cast<T>(params[5])) {}

  // Net gain g (before the load) and turning rate at amplitude a, and with kSlopes their
  // derivatives d/da; branch-free (selects and table gathers) so that loops over it vectorise
// (with -fno-trapping-math).
  template <bool kSlopes>
  [[gnu::always_inline]] void rates(T a, T& g, T& turn, T& dg, T& dturn) const {
    const T raw = a * scale;
    const bool capped = raw > max_pos;
    const T pos = capped ? max_pos : raw;
    const T fl = std::floor(pos);
    const T frac = pos - fl;
    const int32_t j = 4 * static_cast<int32_t>(fl);
    const T n1 = table[j + 1], off1 = table[j + 3];
    const T u = a * free_u;
    const bool hard = u >= u_max;
    const T u_hard = hard ? u : u_max;  // clamped below, as Tank.rates does
    const T n_hard = T(kFourOverPi) / u_hard;
    const T n = hard ? n_hard : table[j] + frac * n1;
    g = gain_c * (loop_gain * n - T(1));
    turn = T(kTwoPi) * (table[j + 2] + frac * off1);
    if constexpr (kSlopes) {
      const T dpos = capped ? T(0) : scale;
      const T dn = hard ? -n_hard / u_hard * free_u : n1 * dpos;
      dg = gain_c * loop_gain * dn;
      dturn = T(kTwoPi) * off1 * dpos;
    }
  }
};

constexpr double kEps = 1e-12;  // as envelope._EPS: keeps |z| differentiable at z = 0

// The envelope velocity of one stage as an oscsim::rk_step policy (no preparation sweep: the
// sparse sums read the stage input directly); acc: [N, 2B] scratch rows for them.
template <typename T>
struct EnvelopeStage {
  static constexpr bool kPrepare = false;
  int64_t b;
  const int32_t *crow, *col;
  const T *val, *load, *delta, *sigma, *rho;
  Tank<T> tank;
  T* acc;

  [[gnu::always_inline]] void velocity(const T* in, int64_t i, T* o) const {
    const int64_t w = 2 * b;
    T* pulled = acc + i * w;
    oscsim::row_product<T>(crow, col, val, in, i, w, pulled);
    const T* x = in + i * w;
    const T* y = x + b;
    const T ld = load[i], d = delta[i], sg = sigma[i], r = rho ? rho[i] : T(0);
#pragma omp simd
    for (int64_t k = 0; k < b; ++k) {
      const T a = std::sqrt(x[k] * x[k] + y[k] * y[k] + T(kEps));
      T g, turn, unused;
      tank.template rates<false>(a, g, turn, unused, unused);
      g -= ld;
      const T rot = d + turn;
      o[k] = (g + sg) * x[k] - rot * y[k] + pulled[k] + r;
      o[b + k] = (g - sg) * y[k] + rot * x[k] + pulled[b + k];
    }
  }
};

template <typename T>
void forward(int64_t n, int64_t b, const T* state, const int32_t* crow, const int32_t* col,
             const T* val, const T* table, const double* params, const T* load,
             const T* delta, const T* sigma, const T* rho, T* acc, T* out) {
  const EnvelopeStage<T> stage{b, crow, col, val, load, delta, sigma, rho,
                               Tank<T>(table, params), acc};
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) stage.velocity(state, i, out + i * 2 * b);
}

// gr: dL/d(velocity) [N, 2B]; state: the forward input (ρ only adds, so the entry point's rho
// is not read).
// Outputs (each may be null): dL/dstate [N, 2B], dL/dK per stored entry [nnz], dL/dload, dL/dδ,
// dL/dσ, dL/dρ [N]. acc: [N, 2B] scratch.
template <typename T>
void backward(int64_t n, int64_t b, const T* gr, const T* state, const int32_t* crow,
              const int32_t* col, const T* val, const T* table, const double* params,
              const T* load, const T* delta, const T* sigma, T* acc, T* grad_state,
              T* grad_entries, T* grad_load, T* grad_delta, T* grad_sigma, T* grad_rho) {
  const int64_t w = 2 * b;
  const Tank<T> tank(table, params);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T* gi = gr + i * w;
    const T* x = state + i * w;
    const T* y = x + b;
    if (grad_entries) oscsim::row_dots<T>(crow, col, gi, state, i, w, grad_entries);
    T* back = acc + i * w;
    if (grad_state) oscsim::row_product<T>(crow, col, val, gr, i, w, back);
    const T ld = load[i], d = delta[i], sg = sigma[i];
    T sum_radial = 0, sum_turn = 0, sum_pump = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_radial, sum_turn, sum_pump, sum_gx)
    for (int64_t k = 0; k < b; ++k) {
      const T gx = gi[k], gy = gi[b + k];
      const T radial = gx * x[k] + gy * y[k];  // dL/dg (per unit g)
      const T turning = gy * x[k] - gx * y[k];  // dL/drot
      sum_radial += radial;
      sum_turn += turning;
      sum_pump += gx * x[k] - gy * y[k];
      sum_gx += gx;
      if (grad_state) {
        const T a = std::sqrt(x[k] * x[k] + y[k] * y[k] + T(kEps));
        T g, turn, dg, dturn;
        tank.template rates<true>(a, g, turn, dg, dturn);
        g -= ld;
        const T rot = d + turn;
        const T along = (dg * radial + dturn * turning) / a;  // dL/da · da/d(x, y) per (x, y)
        grad_state[i * w + k] = gx * (g + sg) + gy * rot + along * x[k] + back[k];
        grad_state[i * w + b + k] = gy * (g - sg) - gx * rot + along * y[k] + back[b + k];
      }
    }
    if (grad_load) grad_load[i] = -sum_radial;
    if (grad_delta) grad_delta[i] = sum_turn;
    if (grad_sigma) grad_sigma[i] = sum_pump;
    if (grad_rho) grad_rho[i] = sum_gx;
  }
}

// One explicit Runge–Kutta step of the envelope without autograd, in place on state [N, 2B]
// (oscsim::rk_step). work: (stages + 2)·N·2B: the stage velocities and input, then the sparse
// sums of the stage.
template <typename T>
void rk_step(int64_t n, int64_t b, int64_t stages, const double* a, const double* weights,
             double h, T* state, const int32_t* crow, const int32_t* col, const T* val,
             const T* table, const double* params, const T* load, const T* delta,
             const T* sigma, const T* rho, T* work) {
  const int64_t w = 2 * b;
  const EnvelopeStage<T> stage{b,   crow,  col,   val, load, delta,
                               sigma, rho, Tank<T>(table, params), work + (stages + 1) * n * w};
  oscsim::rk_step<T>(n, w, stages, a, weights, h, state, stage, work);
}

}  // namespace

// The C entry points, one set per storage type: oscsim_envelope_drift_{forward,backward}_{f32,
// f64}, oscsim_envelope_rk_step_{f32,f64}.
#define OSCSIM_ENVELOPE_ENTRY_POINTS(T, SUFFIX)                                              \
  void oscsim_envelope_drift_forward_##SUFFIX(                                                \
      int64_t n, int64_t b, const T* state, const int32_t* crow, const int32_t* col,         \
      const T* val, const T* table, const double* params, const T* load, const T* delta,     \
      const T* sigma, const T* rho, T* acc, T* out) {                                        \
    forward<T>(n, b, state, crow, col, val, table, params, load, delta, sigma, rho, acc,     \
               out);                                                                         \
  }                                                                                          \
  void oscsim_envelope_drift_backward_##SUFFIX(                                               \
      int64_t n, int64_t b, const T* gr, const T* state, const int32_t* crow,                \
      const int32_t* col, const T* val, const T* table, const double* params, const T* load, \
      const T* delta, const T* sigma, const T* /* rho */, T* acc, T* grad_state,             \
      T* grad_entries, T* grad_load, T* grad_delta, T* grad_sigma, T* grad_rho) {            \
    backward<T>(n, b, gr, state, crow, col, val, table, params, load, delta, sigma, acc,     \
                grad_state, grad_entries, grad_load, grad_delta, grad_sigma, grad_rho);      \
  }                                                                                          \
  void oscsim_envelope_rk_step_##SUFFIX(                                                      \
      int64_t n, int64_t b, int64_t stages, const double* a, const double* weights, double h, \
      T* state, const int32_t* crow, const int32_t* col, const T* val, const T* table,       \
      const double* params, const T* load, const T* delta, const T* sigma, const T* rho,     \
      T* work) {                                                                             \
    rk_step<T>(n, b, stages, a, weights, h, state, crow, col, val, table, params, load,      \
               delta, sigma, rho, work);                                                     \
  }

extern "C" {
OSCSIM_ENVELOPE_ENTRY_POINTS(float, f32)
OSCSIM_ENVELOPE_ENTRY_POINTS(double, f64)
}  // extern "C"
