// Plane kernels of max and average pooling, vectorized across output columns. The same source is
// compiled once per instruction set (pool2d.cpp for the portable path with 16-byte vectors,
// simd/pool2d_avx2.cpp with 32, simd/pool2d_avx512.cpp with 64) and chosen at run time from
// fl::simd_level() by pool2d.cpp.
//
// Results are bitwise those of the references in ref/pool2d_ref.cpp: each lane walks its window in
// the reference's order (rows outer, columns inner) with the same comparison (a NaN wins, a later NaN
// replaces it, otherwise the first maximum is kept) or the same chain of additions from 0, and divides
// by the same divisor. A stride-2 row is read as two contiguous vectors deinterleaved by one permute, so
// no gathers; stride 1 is a plain load; other strides and the columns whose windows cross the border
// take the scalar loop.
//
// Only plain types cross the table boundary, and the loops live in an anonymous namespace and call no
// inline function of another header, so nothing compiled with wider instruction sets can be linked
// into baseline code.
#pragma once
#include <cstdint>

namespace fl::cpu {

// One plane's problem (the fields of Pool2dParams, with the output size already computed).
struct PoolPlaneArgs {
  int64_t H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw;
  bool count_include_pad;
  int64_t divisor;  // 0: none
};

// y, indices and x point at one plane (P x Q, P x Q, H x W). indices may be null: not written.
struct PoolPlaneKernels {
  const char* name;
  void (*max_f32)(float* y, int64_t* indices, const float* x, const PoolPlaneArgs& a);
  void (*max_f64)(double* y, int64_t* indices, const double* x, const PoolPlaneArgs& a);
  void (*avg_f32)(float* y, const float* x, const PoolPlaneArgs& a);
  void (*avg_f64)(double* y, const double* x, const PoolPlaneArgs& a);
  // Average-pooling backward for a stride of 1 along W (dx[H x W] written, from dy[P x Q]; scratch: Q
  // elements).
  void (*avg_backward_s1_f32)(float* dx, const float* dy, float* scratch, const PoolPlaneArgs& a);
  void (*avg_backward_s1_f64)(double* dx, const double* dy, double* scratch, const PoolPlaneArgs& a);
};

// The table for the current fl::simd_level() (defined in pool2d.cpp).
const PoolPlaneKernels& pool_plane_kernels();

namespace detail {
PoolPlaneKernels pool_planes_portable();
#if defined(FL_HAVE_X86_SIMD)
PoolPlaneKernels pool_planes_avx2();
PoolPlaneKernels pool_planes_avx512();
#endif
}  // namespace detail

}  // namespace fl::cpu

// ---------------------------------------------------------------------------------------------------
// The loops, for the translation units that build a table (define FL_POOL_PLANES_VBYTES, the vector
// width in bytes, before including).
#if defined(FL_POOL_PLANES_VBYTES)
namespace fl::cpu {
namespace {

constexpr int kVBytes = FL_POOL_PLANES_VBYTES;

// Lane types: the data, and a signed integer of the same width (comparison masks and plane indices;
// float32 lanes hold int32 indices, so the vector path needs planes below 2^31 elements).
template <typename T> struct Lanes;
template <> struct Lanes<float> { using I = int32_t; };
template <> struct Lanes<double> { using I = int64_t; };

template <typename T> struct Vec {
  static constexpr int N = kVBytes / int(sizeof(T));
  using I = typename Lanes<T>::I;
  typedef T V __attribute__((vector_size(kVBytes)));
  typedef I M __attribute__((vector_size(kVBytes)));
  typedef int64_t L __attribute__((vector_size(N * 8)));
};

template <typename T> inline T neg_inf() { return T(-__builtin_inf()); }

template <typename V, typename T> inline V load(const T* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V, typename T> inline void store(T* p, const V& v) { __builtin_memcpy(p, &v, sizeof v); }

// First and one-past-last tap t of a window starting at `start` (step dil, k taps) inside [0, n).
inline void taps(int64_t start, int64_t k, int64_t dil, int64_t n, int64_t& lo, int64_t& hi) {
  if (dil == 1) {
    lo = start < 0 ? -start : 0;
    hi = n - start < k ? n - start : k;
    if (hi < lo) hi = lo;
    return;
  }
  lo = start < 0 ? (-start + dil - 1) / dil : 0;
  hi = n - start <= 0 ? 0 : (n - start + dil - 1) / dil;
  if (hi > k) hi = k;
  if (hi < lo) hi = lo;
}

// The output columns [v0, v1) whose windows lie inside the row (vector candidates); empty when the
// stride is neither 1 nor 2 or the plane is too large for the index lanes.
template <typename T>
inline void vector_columns(const PoolPlaneArgs& a, int64_t& v0, int64_t& v1) {
  v0 = v1 = 0;
  if ((a.sw != 1 && a.sw != 2) || a.H * a.W > int64_t(0x7fffffff)) return;
  const int64_t last = a.W - 1 + a.pw - (a.kw - 1) * a.dw;  // ow * sw <= last
  if (last < 0) return;
  v0 = (a.pw + a.sw - 1) / a.sw;
  v1 = last / a.sw + 1;
  if (v1 > a.Q) v1 = a.Q;
  if (v1 - v0 < Vec<T>::N) v0 = v1 = 0;
}

// Where the lanes of the block starting at column `o` read their columns: shift e of the loads (stride
// 2: the two vectors start e elements early and the lanes take the elements of parity e, so a block
// whose last window ends the row need not read past it); -1 when neither fits (rows of about 2N).
template <typename T>
inline int block_shift(const PoolPlaneArgs& a, int64_t o) {
  constexpr int N = Vec<T>::N;
  if (a.sw == 1) return 0;
  const int64_t first = o * 2 - a.pw, last_needed = (o + N - 1) * 2 - a.pw + (a.kw - 1) * a.dw;
  if (last_needed + 1 <= a.W - 1) return 0;
  if (first - 1 >= 0) return 1;
  return -1;
}

// The row's values at columns c + lane * sw (c is lane 0's column) for a block of shift e.
template <typename T>
inline typename Vec<T>::V row_lanes(const T* row, int64_t c, int64_t sw, int e, const typename Vec<T>::M& pick) {
  using V = typename Vec<T>::V;
  constexpr int N = Vec<T>::N;
  if (sw == 1) return load<V>(row + c);
#if defined(__GNUC__) && !defined(__clang__) && !defined(FL_POOL_NO_SHUFFLE)
  const V lo = load<V>(row + c - e), hi = load<V>(row + c - e + N);
  return __builtin_shuffle(lo, hi, pick);
#else  // no two-vector permute with run-time lanes in this compiler: one lane at a time
  (void)e;
  (void)pick;
  V v;
  for (int l = 0; l < N; ++l) v[l] = row[c + 2 * l];
  return v;
#endif
}

// Per-plane lane constants: lane * sw (index offsets) and the two deinterleave permutes.
template <typename T> struct LaneConsts {
  typename Vec<T>::M iota, pick[2];
  explicit LaneConsts(int64_t sw) {
    using I = typename Vec<T>::I;
    for (int l = 0; l < Vec<T>::N; ++l) {
      iota[l] = I(l * sw);
      pick[0][l] = I(2 * l);
      pick[1][l] = I(2 * l + 1);
    }
  }
};

// One output row: block(o, e) for the blocks of N columns in [v0, v1) (the last one overlapping the one
// before it: the same values are written again), scalar(ow) for the other columns and for a block no load
// shift fits.
template <typename T, typename Scalar, typename Block>
inline void row_columns(const PoolPlaneArgs& a, int64_t v0, int64_t v1, Scalar&& scalar, Block&& block) {
  constexpr int N = Vec<T>::N;
  int64_t ow = 0;
  if (v1 > v0) {
    for (; ow < v0; ++ow) scalar(ow);
    for (int64_t o = v0; o < v1; o += N) {
      if (o + N > v1) o = v1 - N;
      const int e = block_shift<T>(a, o);
      if (e >= 0) {
        block(o, e);
        continue;
      }
      for (int64_t q = o; q < o + N; ++q) scalar(q);
    }
    ow = v1;
  }
  for (; ow < a.Q; ++ow) scalar(ow);
}

// ---- max ----

template <typename T>
inline void max_scalar(T* y, int64_t* ind, const T* x, const PoolPlaneArgs& a, int64_t hs, int64_t rlo,
                       int64_t rhi, int64_t ow) {
  const int64_t ws = ow * a.sw - a.pw;
  int64_t slo, shi;
  taps(ws, a.kw, a.dw, a.W, slo, shi);
  T best = neg_inf<T>();
  int64_t bi = -1;  // a window wholly in the padding has no element: -1, which no backward writes
  if (rlo < rhi && slo < shi) bi = (hs + rlo * a.dh) * a.W + ws + slo * a.dw;
  for (int64_t r = rlo; r < rhi; ++r) {
    const int64_t off = (hs + r * a.dh) * a.W + ws;
    for (int64_t s = slo; s < shi; ++s) {
      const int64_t i = off + s * a.dw;
      const T v = x[i];
      const bool t = (v > best) | (v != v);
      best = t ? v : best;
      bi = t ? i : bi;
    }
  }
  y[ow] = best;
  if (ind) ind[ow] = bi;
}

template <typename T>
void max_plane(T* y, int64_t* ind, const T* x, const PoolPlaneArgs& a) {
  using V = typename Vec<T>::V;
  using M = typename Vec<T>::M;
  using I = typename Vec<T>::I;
  int64_t v0, v1;
  vector_columns<T>(a, v0, v1);
  const LaneConsts<T> k(a.sw);
  for (int64_t oh = 0; oh < a.P; ++oh) {
    const int64_t hs = oh * a.sh - a.ph;
    int64_t rlo, rhi;
    taps(hs, a.kh, a.dh, a.H, rlo, rhi);
    T* yr = y + oh * a.Q;
    int64_t* ir = ind ? ind + oh * a.Q : nullptr;
    const bool rows = rlo < rhi;
    row_columns<T>(a, rows ? v0 : 0, rows ? v1 : 0, [&](int64_t ow) { max_scalar(yr, ir, x, a, hs, rlo, rhi, ow); },
                   [&](int64_t o, int e) {
                     const int64_t c0 = o * a.sw - a.pw;
                     V best = V{} + neg_inf<T>();
                     M idx = k.iota + I((hs + rlo * a.dh) * a.W + c0);
                     for (int64_t r = rlo; r < rhi; ++r) {
                       const int64_t ih = hs + r * a.dh;
                       const T* row = x + ih * a.W;
                       for (int64_t s = 0; s < a.kw; ++s) {
                         const int64_t c = c0 + s * a.dw;
                         const V v = row_lanes<T>(row, c, a.sw, e, k.pick[e]);
                         const M t = (v > best) | (v != v);
                         best = t ? v : best;
                         idx = t ? k.iota + I(ih * a.W + c) : idx;
                       }
                     }
                     store(yr + o, best);
                     if (ir) store(ir + o, __builtin_convertvector(idx, typename Vec<T>::L));
                   });
  }
}

// ---- average ----

// Rows [h0, h1) of the window of output row oh inside the input, and its padded height.
inline void avg_rows(const PoolPlaneArgs& a, int64_t oh, int64_t& h0, int64_t& h1, int64_t& padded) {
  h0 = oh * a.sh - a.ph;
  h1 = h0 + a.kh < a.H + a.ph ? h0 + a.kh : a.H + a.ph;
  padded = h1 - h0;
  if (h0 < 0) h0 = 0;
  if (h1 > a.H) h1 = a.H;
}

// Columns [w0, w1) of window (oh, ow) inside the input (rows [h0, h1), padded height hpad) and its divisor;
// false for a window with no element.
inline bool avg_cols(const PoolPlaneArgs& a, int64_t h0, int64_t h1, int64_t hpad, int64_t ow, int64_t& w0,
                     int64_t& w1, int64_t& div) {
  w0 = ow * a.sw - a.pw;
  w1 = w0 + a.kw < a.W + a.pw ? w0 + a.kw : a.W + a.pw;
  const int64_t wpad = w1 - w0;
  if (w0 < 0) w0 = 0;
  if (w1 > a.W) w1 = a.W;
  div = a.divisor != 0 ? a.divisor : a.count_include_pad ? hpad * wpad : (h1 - h0) * (w1 - w0);
  return h0 < h1 && w0 < w1;
}

template <typename T>
inline void avg_scalar(T* y, const T* x, const PoolPlaneArgs& a, int64_t h0, int64_t h1, int64_t hpad,
                       int64_t ow) {
  int64_t w0, w1, div;
  if (!avg_cols(a, h0, h1, hpad, ow, w0, w1, div)) {
    y[ow] = 0;
    return;
  }
  T sum = 0;
  for (int64_t ih = h0; ih < h1; ++ih) {
    const T* row = x + ih * a.W;
    for (int64_t iw = w0; iw < w1; ++iw) sum += row[iw];
  }
  y[ow] = sum / T(div);
}

template <typename T>
void avg_plane(T* y, const T* x, const PoolPlaneArgs& a) {
  using V = typename Vec<T>::V;
  int64_t v0, v1;
  vector_columns<T>(a, v0, v1);
  const LaneConsts<T> k(a.sw);
  for (int64_t oh = 0; oh < a.P; ++oh) {
    int64_t h0, h1, hpad;
    avg_rows(a, oh, h0, h1, hpad);
    T* yr = y + oh * a.Q;
    // Windows inside the row: kw columns each, padded width kw.
    const T d = T(a.divisor != 0 ? a.divisor : a.count_include_pad ? hpad * a.kw : (h1 - h0) * a.kw);
    const bool rows = h0 < h1;
    row_columns<T>(a, rows ? v0 : 0, rows ? v1 : 0, [&](int64_t ow) { avg_scalar(yr, x, a, h0, h1, hpad, ow); },
                   [&](int64_t o, int e) {
                     const int64_t c0 = o * a.sw - a.pw;
                     V sum = V{};
                     for (int64_t ih = h0; ih < h1; ++ih) {
                       const T* row = x + ih * a.W;
                       for (int64_t s = 0; s < a.kw; ++s) sum += row_lanes<T>(row, c0 + s, a.sw, e, k.pick[e]);
                     }
                     store(yr + o, sum / d);
                   });
  }
}

// Backward of stride-1 (along W) average pooling into a zeroed plane dx. The reference adds g / div of
// each output (oh, ow) in turn over its window; here each element of a row of dx adds, for each output row
// oh in turn, the quotients of the columns ow covering it in increasing ow: the same additions in the same
// order, so the same bits, with the elements of a row in vector lanes. scaled: Q elements of scratch (the
// quotients of one output row, each computed once as in the reference).
template <typename T>
void avg_backward_plane_s1(T* dx, const T* dy, T* scaled, const PoolPlaneArgs& a) {
  using V = typename Vec<T>::V;
  constexpr int N = Vec<T>::N;
  // Column iw is covered by ow in [iw + pw - kw + 1, iw + pw] within [0, Q) (a window holding iw is never
  // empty); [i0, i1) is where that range needs no clipping.
  const int64_t i0 = a.kw - 1 - a.pw > 0 ? a.kw - 1 - a.pw : 0;
  const int64_t i1 = a.Q - a.pw < a.W ? a.Q - a.pw : a.W;
  int64_t v0, v1;  // the outputs whose windows lie inside the row
  vector_columns<T>(a, v0, v1);
  auto one = [&](T* row, int64_t iw) {
    const int64_t lo = iw + a.pw - a.kw + 1 > 0 ? iw + a.pw - a.kw + 1 : 0;
    const int64_t hi = iw + a.pw < a.Q - 1 ? iw + a.pw : a.Q - 1;
    T acc = row[iw];
    for (int64_t ow = lo; ow <= hi; ++ow) acc += scaled[ow];
    row[iw] = acc;
  };
  for (int64_t i = 0; i < a.H * a.W; ++i) dx[i] = 0;
  for (int64_t oh = 0; oh < a.P; ++oh) {
    int64_t h0, h1, hpad;
    avg_rows(a, oh, h0, h1, hpad);
    if (h0 >= h1) continue;
    const T* g = dy + oh * a.Q;
    // Windows inside the row share one divisor (a loop the compiler vectorizes); the others, their own.
    const T d = T(a.divisor != 0 ? a.divisor : a.count_include_pad ? hpad * a.kw : (h1 - h0) * a.kw);
    for (int64_t ow = v0; ow < v1; ++ow) scaled[ow] = g[ow] / d;
    auto edge = [&](int64_t ow) {
      int64_t w0, w1, div;
      scaled[ow] = avg_cols(a, h0, h1, hpad, ow, w0, w1, div) ? g[ow] / T(div) : T(0);
    };
    for (int64_t ow = 0; ow < v0; ++ow) edge(ow);
    for (int64_t ow = v1; ow < a.Q; ++ow) edge(ow);
    for (int64_t ih = h0; ih < h1; ++ih) {
      T* row = dx + ih * a.W;
      auto block = [&](int64_t c) {
        V acc = load<V>(row + c);
        const T* sj = scaled + c + a.pw - a.kw + 1;
        for (int64_t j = 0; j < a.kw; ++j) acc += load<V>(sj + j);
        return acc;
      };
      int64_t iw = 0;
      for (; iw < i0 && iw < a.W; ++iw) one(row, iw);
      // A last block overlapping the one before it, computed from the row before any block is stored:
      // its lanes then hold the same values that block writes.
      const bool tail = i1 - i0 >= N && (i1 - i0) % N != 0;
      V last{};
      if (tail) last = block(i1 - N);
      for (; iw + N <= i1; iw += N) store(row + iw, block(iw));
      if (tail) {
        store(row + i1 - N, last);
        iw = i1;
      }
      for (; iw < a.W; ++iw) one(row, iw);
    }
  }
}

PoolPlaneKernels plane_table(const char* name) {
  return {name,          max_plane<float>, max_plane<double>, avg_plane<float>, avg_plane<double>,
          avg_backward_plane_s1<float>, avg_backward_plane_s1<double>};
}

}  // namespace
}  // namespace fl::cpu
#endif
