// 2-D convolution by Winograd's minimal filtering F(4x4, 3x3), float32, 3x3 kernels, stride 1,
// dilation 1, one group. Gradients are WRITTEN (=).
//
// The output is cut into 4x4 tiles; tile t reads the 6x6 input patch at (4*ty - pad_h, 4*tx - pad_w).
// With B, G, A the transforms of the interpolation points 0, 1, -1, 2, -2 and infinity,
//   Y_t[k] = A^T [ sum_c (G g_kc G^T) .* (B^T d_tc B) ] A        (.* elementwise over the 6x6 positions)
// so the channel reduction becomes 36 independent GEMMs, one per position xi:
//   M[xi] [K x tiles] = U[xi] [K x C] * V[xi] [C x tiles]
// with U the transformed weights (packed once per call as the A operand of cpu/gemm.h's micro-kernels)
// and V the transformed input patches. 36 products per 16 outputs instead of 144: 4x fewer multiplies.
//
// A task takes a block of nr tiles (one B micro-panel wide; tiles numbered over the whole batch, so a
// block may span rows and images): it transforms the block's patches into V (its own buffer, about
// C * 4.6 KB), runs the 36 GEMMs for a block of output channels into M (kept in L2), and transforms M
// back into the block's output tiles right away (bias added there). The transforms run on nr tiles at
// a time, one tile per SIMD lane.
//
// Backward data of a stride-1 3x3 convolution is the stride-1 convolution of dy with the weights flipped
// and their in/out channels swapped, padding 2 - pad: the same code with a flipped weight transform.
//
// Accuracy: the transforms round (G has 1/6, 1/12, 1/24; A and B reach 8 and 5), so results differ from
// the direct sum by a few float32 ulps of the largest terms: measured largest relative error in the
// README. float64 keeps the exact (GEMM) algorithms, and FASTLAYERS_CONV_ALGO=exact turns Winograd off.
//
// Threads: tasks own (tile block, output-channel block) pairs and write disjoint outputs; every output
// element is computed by the same operations in the same order whatever the split, so results are
// bitwise independent of the thread count.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "ops/checks.h"

namespace fl::cpu {
namespace {

constexpr int kAlpha = 6;             // input tile side: 4 outputs + 3 - 1
constexpr int kPos = kAlpha * kAlpha; // transformed positions per tile
constexpr int64_t kKc = 256;          // reduction (channel) block of the micro-kernels
constexpr int64_t kMBytes = 256 << 10;  // M block of a task (36 positions x channel block x nr tiles)

// ---- 1-D transforms on lane vectors: element i of a transform is the L lanes at p[i * stride] ----

// B^T d (6 -> 6).
template <int L, typename T>
inline void input_1d(const T* d, int64_t ds, T* o, int64_t os) {
  for (int l = 0; l < L; ++l) {
    const T d0 = d[l], d1 = d[ds + l], d2 = d[2 * ds + l], d3 = d[3 * ds + l], d4 = d[4 * ds + l],
            d5 = d[5 * ds + l];
    o[l] = T(4) * d0 - T(5) * d2 + d4;
    o[os + l] = d3 + d4 - T(4) * (d1 + d2);
    o[2 * os + l] = d4 - d3 + T(4) * (d1 - d2);
    o[3 * os + l] = d4 - d2 + T(2) * (d3 - d1);
    o[4 * os + l] = d4 - d2 - T(2) * (d3 - d1);
    o[5 * os + l] = T(4) * d1 - T(5) * d3 + d5;
  }
}

// A^T m (6 -> 4).
template <int L, typename T>
inline void output_1d(const T* m, int64_t ms, T* o, int64_t os) {
  for (int l = 0; l < L; ++l) {
    const T m0 = m[l], m1 = m[ms + l], m2 = m[2 * ms + l], m3 = m[3 * ms + l], m4 = m[4 * ms + l],
            m5 = m[5 * ms + l];
    const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[l] = m0 + s12 + s34;
    o[os + l] = d12 + T(2) * d34;
    o[2 * os + l] = s12 + T(4) * s34;
    o[3 * os + l] = d12 + T(8) * d34 + m5;
  }
}

// G g (3 -> 6), one kernel row or column. Multiplications by the rounded reciprocals (as accurate as
// the divisions, and many times faster: the weights are transformed on every call).
template <typename T>
inline void weight_1d(const T* g, int64_t gs, T* o, int64_t os) {
  const T g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
  const T sixth = T(1) / T(6), s02 = g0 + g2;
  o[0] = g0 * T(0.25);
  o[os] = -(s02 + g1) * sixth;
  o[2 * os] = (g1 - s02) * sixth;
  const T a = g0 * (T(1) / T(24)) + g2 * sixth, b = g1 * (T(1) / T(12));
  o[3 * os] = a + b;
  o[4 * os] = a - b;
  o[5 * os] = g2;
}

// Where the lanes of a tile block read and write. Lane l is tile t0 + l of the batch.
struct LaneGeom {
  int64_t in_base[64];   // offset of the patch's top-left element in image n's channel 0 (may be < 0)
  int64_t out_base[64];  // offset of the tile's top-left output in image n's channel 0
  int64_t img[64];       // image of the lane, -1 past the last tile
  int64_t h0[64], w0[64];  // patch origin (may be < 0)
  bool inside[64];       // the whole 6x6 patch lies in the input
};

struct WinoGeom {
  int64_t N, C, H, W, K, P, Q, ph, pw, th, tw, tiles;
  explicit WinoGeom(const Conv2dParams& p)
      : N(p.N), C(p.C), H(p.H), W(p.W), K(p.K), P(p.P()), Q(p.Q()), ph(p.pad_h), pw(p.pad_w),
        th(ceil_div(p.P(), 4)), tw(ceil_div(p.Q(), 4)), tiles(p.N * th * tw) {}
};

template <int L>
void lane_geom(const WinoGeom& g, int64_t t0, LaneGeom& lg) {
  for (int l = 0; l < L; ++l) {
    const int64_t t = t0 + l;
    if (t >= g.tiles) {
      lg.img[l] = -1;
      lg.inside[l] = false;
      continue;
    }
    const int64_t n = t / (g.th * g.tw), ty = (t / g.tw) % g.th, tx = t % g.tw;
    const int64_t h0 = 4 * ty - g.ph, w0 = 4 * tx - g.pw;
    lg.img[l] = n;
    lg.h0[l] = h0;
    lg.w0[l] = w0;
    lg.in_base[l] = h0 * g.W + w0;
    lg.out_base[l] = 4 * ty * g.Q + 4 * tx;
    lg.inside[l] = h0 >= 0 && w0 >= 0 && h0 + kAlpha <= g.H && w0 + kAlpha <= g.W;
  }
}

// V[xi][c][lane] (row stride L, position stride vs) for channels [0, C) of the block's tiles.
template <int L, typename T>
void input_transform(const T* x, const WinoGeom& g, const LaneGeom& lg, T* V, int64_t vs) {
  alignas(64) T d[kPos * L];
  alignas(64) T t[kPos * L];
  const int64_t HW = g.H * g.W;
  for (int64_t c = 0; c < g.C; ++c) {
    for (int l = 0; l < L; ++l) {
      if (lg.img[l] < 0) {
        for (int i = 0; i < kPos; ++i) d[i * L + l] = T(0);
        continue;
      }
      const T* src = x + (lg.img[l] * g.C + c) * HW + lg.in_base[l];
      if (lg.inside[l]) {
        for (int i = 0; i < kAlpha; ++i)
          for (int j = 0; j < kAlpha; ++j) d[(i * kAlpha + j) * L + l] = src[i * g.W + j];
        continue;
      }
      for (int i = 0; i < kAlpha; ++i) {
        const bool row_in = static_cast<uint64_t>(lg.h0[l] + i) < static_cast<uint64_t>(g.H);
        for (int j = 0; j < kAlpha; ++j) {
          const bool in = row_in && static_cast<uint64_t>(lg.w0[l] + j) < static_cast<uint64_t>(g.W);
          d[(i * kAlpha + j) * L + l] = in ? src[i * g.W + j] : T(0);
        }
      }
    }
    // columns: t[.][j] = B^T d[.][j]; rows: V[i][.] = t[i][.] B
    for (int j = 0; j < kAlpha; ++j) input_1d<L>(d + j * L, kAlpha * L, t + j * L, kAlpha * L);
    for (int i = 0; i < kAlpha; ++i) input_1d<L>(t + i * kAlpha * L, L, V + (i * kAlpha) * vs + c * L, vs);
  }
}

// Output tiles of channels [k0, k0 + kn) from M[xi][k - k0][lane] (row stride L, position stride ms).
template <int L, typename T>
void output_transform(const T* M, int64_t ms, const WinoGeom& g, const LaneGeom& lg, int64_t k0, int64_t kn,
                      const T* bias, T* y) {
  alignas(64) T t[4 * kAlpha * L];
  alignas(64) T o[16 * L];
  const int64_t PQ = g.P * g.Q;
  for (int64_t kk = 0; kk < kn; ++kk) {
    const T* m = M + kk * L;
    for (int j = 0; j < kAlpha; ++j) output_1d<L>(m + j * ms, kAlpha * ms, t + j * L, kAlpha * L);
    for (int a = 0; a < 4; ++a) output_1d<L>(t + a * kAlpha * L, L, o + a * 4 * L, L);
    const T b = bias ? bias[k0 + kk] : T(0);
    for (int l = 0; l < L; ++l) {
      if (lg.img[l] < 0) break;
      T* dst = y + (lg.img[l] * g.K + k0 + kk) * PQ + lg.out_base[l];
      const int64_t p0 = lg.h0[l] + g.ph, q0 = lg.w0[l] + g.pw;
      const int ra = static_cast<int>(std::min<int64_t>(4, g.P - p0));
      const int rb = static_cast<int>(std::min<int64_t>(4, g.Q - q0));
      for (int a = 0; a < ra; ++a)
        for (int bb = 0; bb < rb; ++bb) dst[a * g.Q + bb] = o[(a * 4 + bb) * L + l] + b;
    }
  }
}

// U[xi] packed as the micro-kernels' A operand, [ceil(K/mr)][C][mr] (zero rows past K), from
// w [K][C][3][3] (forward) or, flipped, from w [C][K][3][3] with taps reversed (backward data).
// A task transforms kWBlock channels of one row panel into a local buffer, then stores 36 contiguous runs
// (storing each transformed 3x3 kernel straight away would touch 36 pages per kernel).
constexpr int64_t kWBlock = 16;
template <typename T>
void weight_transform(const T* w, int64_t K, int64_t C, bool flipped, int mr, T* U, int64_t us) {
  const int64_t mpan = ceil_div(K, mr), ncb = ceil_div(C, kWBlock);
  parallel_for(mpan * ncb, [&](int64_t task) {
    const int64_t ip = task / ncb, c0 = (task % ncb) * kWBlock, cn = std::min(kWBlock, C - c0);
    T* buf = thread_scratch<T>(static_cast<size_t>(kPos * kWBlock * mr), 0);  // [xi][c][i]
    T g[9], t[3 * kAlpha], u[kPos];
    for (int64_t c = 0; c < cn; ++c)
      for (int i = 0; i < mr; ++i) {
        const int64_t k = ip * mr + i;
        T* dst = buf + c * mr + i;
        if (k >= K) {
          for (int xi = 0; xi < kPos; ++xi) dst[xi * kWBlock * mr] = T(0);
          continue;
        }
        const T* src = flipped ? w + ((c0 + c) * K + k) * 9 : w + (k * C + c0 + c) * 9;
        for (int r = 0; r < 9; ++r) g[r] = flipped ? src[8 - r] : src[r];
        for (int s = 0; s < 3; ++s) weight_1d(g + s, 3, t + s, 3);                   // t[6][3] = G g
        for (int a = 0; a < kAlpha; ++a) weight_1d(t + a * 3, 1, u + a * kAlpha, 1);  // u = t G^T
        for (int xi = 0; xi < kPos; ++xi) dst[xi * kWBlock * mr] = u[xi];
      }
    for (int xi = 0; xi < kPos; ++xi)
      std::memcpy(U + xi * us + ip * C * mr + c0 * mr, buf + xi * kWBlock * mr, sizeof(T) * cn * mr);
  });
}

template <int L, typename T>
void run(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p, bool flipped,
         const GemmKernel<T>& kr) {
  const WinoGeom g(p);
  const int mr = kr.mr;
  const int64_t mpan = ceil_div(g.K, mr), us = mpan * mr * g.C;
  T* U = thread_scratch<T>(static_cast<size_t>(kPos * us), kSharedSlot);
  weight_transform(w, g.K, g.C, flipped, mr, U, us);

  // Output-channel blocks: M (36 x kb x L) within kMBytes; more blocks when there are too few tile
  // blocks to keep the threads busy (each such task transforms its tiles' input again).
  const int64_t nblk = ceil_div(g.tiles, L), threads = kernel_threads();
  int64_t kb_pan = std::max<int64_t>(1, kMBytes / (kPos * L * mr * int64_t(sizeof(T))));
  int64_t ksplit = 1;
  if (threads > 1 && nblk < 4 * threads) ksplit = std::min(mpan, ceil_div(4 * threads, nblk));
  const int64_t pan_per_task = ceil_div(mpan, ksplit);
  ksplit = ceil_div(mpan, pan_per_task);
  kb_pan = std::min(kb_pan, pan_per_task);
  const int64_t kc = split_block(g.C, kKc);
  const int64_t vs = g.C * L;  // V position stride

  parallel_for_dynamic(nblk * ksplit, [&](int64_t task) {
    const int64_t blk = task / ksplit, ks = task % ksplit;
    const int64_t pan0 = ks * pan_per_task, pan1 = std::min(mpan, pan0 + pan_per_task);
    LaneGeom lg;
    lane_geom<L>(g, blk * L, lg);
    T* V = thread_scratch<T>(static_cast<size_t>(kPos * vs), 0);
    T* M = thread_scratch<T>(static_cast<size_t>(kPos * kb_pan * mr * L), 1);
    input_transform<L>(x, g, lg, V, vs);
    const int64_t ms = kb_pan * mr * L;  // M position stride
    for (int64_t b0 = pan0; b0 < pan1; b0 += kb_pan) {
      const int64_t b1 = std::min(pan1, b0 + kb_pan);
      for (int xi = 0; xi < kPos; ++xi) {
        const T* Ux = U + xi * us;
        const T* Vx = V + xi * vs;
        T* Mx = M + xi * ms;
        for (int64_t ip = b0; ip < b1; ++ip)
          for (int64_t c0 = 0; c0 < g.C; c0 += kc) {
            const int64_t cl = std::min(kc, g.C - c0);
            kr.fn(cl, Ux + ip * g.C * mr + c0 * mr, Vx + c0 * L, Mx + (ip - b0) * mr * L, L, mr, L, c0 > 0,
                  static_cast<const T*>(nullptr));
          }
      }
      const int64_t k0 = b0 * mr, kn = std::min(g.K, b1 * mr) - k0;
      output_transform<L>(M, ms, g, lg, k0, kn, bias, y);
    }
  });
}

template <typename T>
void winograd(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p, bool flipped) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(p.K, p.N * p.P() * p.Q());
  switch (kr.nr) {
    case 32: return run<32>(y, x, w, bias, p, flipped, kr);
    case 16: return run<16>(y, x, w, bias, p, flipped, kr);
    case 8: return run<8>(y, x, w, bias, p, flipped, kr);
    case 4: return run<4>(y, x, w, bias, p, flipped, kr);
    default: break;
  }
  // No micro-kernel of a supported width: not reached with the kernel tables of this build.
  std::abort();
}

bool exact_only() {
  // FASTLAYERS_CONV_ALGO=exact: no fast algorithm whose rounding differs from the direct sum.
  static const bool on = [] {
    const char* v = std::getenv("FASTLAYERS_CONV_ALGO");
    return v && std::strcmp(v, "exact") == 0;
  }();
  return on;
}

// The exact implementation next in conv2d's list (for float64 and the weight gradient).
bool use_batch_gemm(const Conv2dParams& p) { return conv2d_batch_gemm_accepts(p); }

void note_declined(const char* pass, const Conv2dParams& p, const char* why) {
  if (verbose())
    std::fprintf(stderr, "fastlayers: conv2d %s %s: winograd declines (%s) -> %s\n", pass, p.str().c_str(), why,
                 use_batch_gemm(p) ? "batch_gemm" : "gemm");
}

}  // namespace

bool conv2d_winograd_accepts(const Conv2dParams& p) {
  if (exact_only()) return false;  // the user asked for the exact algorithms only
  // F(4x4, 3x3) is written for 3x3 windows read at stride 1, no dilation, one group.
  if (p.R != 3 || p.S != 3 || p.stride_h != 1 || p.stride_w != 1 || p.dil_h != 1 || p.dil_w != 1 || p.groups != 1)
    return false;
  // Backward data runs as a convolution with padding 2 - pad.
  if (p.pad_h > 2 || p.pad_w > 2) return false;
  // Too small to pay (measured on Zen 5, 1 and 2 threads, against the GEMM paths):
  //  - fewer than 64 input or output channels: the transforms (per tile and channel) cost about what the
  //    GEMM flops they save (32 channels: even at 512 tiles; 16: 1.5x slower);
  //  - fewer than 64 tiles of 4x4 outputs over the batch: the GEMMs are one micro-panel (32 tiles) wide,
  //    mostly padding, and the weight transform (36 K C values per call) is not amortized (16 tiles of
  //    256 channels: 1.6x slower; 32 tiles: a tie; 64: 1.4x faster).
  const int64_t tiles = p.N * ceil_div(p.P(), 4) * ceil_div(p.Q(), 4);
  return p.C >= 64 && p.K >= 64 && tiles >= 64;
}

void conv2d_winograd_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                             const Conv2dParams& p) {
  if (x.dtype != DType::Float32) {  // float64 keeps the exact algorithms
    note_declined("forward", p, "float64 keeps the exact algorithms");
    return use_batch_gemm(p) ? conv2d_batch_gemm_forward(y, x, w, b, p) : conv2d_gemm_forward(y, x, w, b, p);
  }
  winograd<float>(y.ptr<float>(), x.ptr<float>(), w.ptr<float>(), b.ptr<float>(), p, false);
}

void conv2d_winograd_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                   const Conv2dParams& p) {
  if (dy.dtype != DType::Float32) {
    note_declined("backward_data", p, "float64 keeps the exact algorithms");
    return use_batch_gemm(p) ? conv2d_batch_gemm_backward_data(dx, dy, w, p) : conv2d_gemm_backward_data(dx, dy, w, p);
  }
  // dx = conv(dy, flipped w with in/out channels swapped), stride 1, padding 2 - pad.
  Conv2dParams q = p;
  q.C = p.K;
  q.K = p.C;
  q.H = p.P();
  q.W = p.Q();
  q.pad_h = 2 - p.pad_h;
  q.pad_w = 2 - p.pad_w;
  winograd<float>(dx.ptr<float>(), dy.ptr<float>(), w.ptr<float>(), nullptr, q, true);
}

void conv2d_winograd_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                     const TensorView& x, const Conv2dParams& p) {
  // No Winograd form for the weight gradient (yet): the exact GEMM paths.
  note_declined("backward_weight", p, "no Winograd weight gradient");
  if (use_batch_gemm(p)) conv2d_batch_gemm_backward_weight(dw, db, dy, x, p);
  else conv2d_gemm_backward_weight(dw, db, dy, x, p);
}

}  // namespace fl::cpu
