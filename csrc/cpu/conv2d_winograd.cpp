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

#define FL_WINOGRAD_IMPL  // the portable transforms, for any lane count
#include "cpu/conv2d_winograd.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "ops/checks.h"

namespace fl::cpu {
namespace {

constexpr int kAlpha = kWinoAlpha;
constexpr int kPos = kWinoPos;
constexpr int64_t kKc = 256;          // reduction (channel) block of the micro-kernels
constexpr int64_t kMBytes = 320 << 10;  // M block of a task (36 positions x channel block x nr tiles): in L2

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

WinoGeom wino_geom(const Conv2dParams& p) {
  const int64_t th = ceil_div(p.P(), 4), tw = ceil_div(p.Q(), 4);
  return WinoGeom{p.N, p.C, p.H, p.W, p.K, p.P(), p.Q(), p.pad_h, p.pad_w, th, tw, p.N * th * tw};
}

// Lane l of a block is tile t0 + l of the batch.
template <int L>
void lane_geom(const WinoGeom& g, int64_t t0, WinoLanes& lg) {
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
    lg.inside[l] = h0 >= 0 && w0 >= 0 && h0 + kWinoAlpha <= g.H && w0 + kWinoAlpha <= g.W;
  }
  // Runs (see WinoLanes), from the last lane back: a lane extends its right neighbour's run when that
  // tile is the next one along the same tile row and the same condition holds for both.
  for (int l = L - 1; l >= 0; --l) {
    const bool valid = lg.img[l] >= 0;
    const bool next_same_row = valid && l + 1 < L && lg.img[l + 1] == lg.img[l] && lg.h0[l + 1] == lg.h0[l] &&
                               lg.w0[l + 1] == lg.w0[l] + 4;
    const bool out_full = valid && lg.h0[l] + g.ph + 4 <= g.P && lg.w0[l] + g.pw + 4 <= g.Q;
    lg.in_run[l] = lg.inside[l] ? 1 + (next_same_row && lg.inside[l + 1] ? lg.in_run[l + 1] : 0) : 0;
    lg.out_run[l] = out_full ? 1 + (next_same_row ? lg.out_run[l + 1] : 0) : 0;
  }
}


// The transforms for L lanes at the current SIMD level: the level's own unit where its width matches
// (its micro-kernel's nr), else the portable ones.
template <int L>
WinoTransforms pick_transforms() {
#if defined(FL_HAVE_X86_SIMD)
  const SimdLevel level = simd_level();
  if (level == SimdLevel::AVX512) {
    const WinoTransforms t = detail::winograd_transforms_avx512();
    if (t.lanes == L) return t;
  } else if (level == SimdLevel::AVX2) {
    const WinoTransforms t = detail::winograd_transforms_avx2();
    if (t.lanes == L) return t;
  }
#endif
  return winograd_table<L>();
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
  const WinoGeom g = wino_geom(p);
  const WinoTransforms tf = pick_transforms<L>();
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
  kb_pan = split_block(pan_per_task, kb_pan);  // equal blocks (64 channels: one block of 8 panels, not 7 + 1)
  const int64_t kc = split_block(g.C, kKc);
  const int64_t vs = g.C * L;  // V position stride

  parallel_for_dynamic(nblk * ksplit, [&](int64_t task) {
    const int64_t blk = task / ksplit, ks = task % ksplit;
    const int64_t pan0 = ks * pan_per_task, pan1 = std::min(mpan, pan0 + pan_per_task);
    WinoLanes lg;
    lane_geom<L>(g, blk * L, lg);
    T* V = thread_scratch<T>(static_cast<size_t>(kPos * vs), 0);
    T* M = thread_scratch<T>(static_cast<size_t>(kPos * kb_pan * mr * L), 1);
    tf.input(x, g, lg, V, vs);
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
      tf.output(M, ms, g, lg, k0, kn, bias, y);
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
  //  - more than 16 MB of transformed weights (36 K C floats: more than 333 x 333 channels) with fewer than
  //    128 tiles: each 32-tile block streams all of them from memory, and the weight transform itself
  //    writes them (512 x 512 channels at 7 x 7, batch 16: 64 tiles, 37.7 MB, 0.6-1.3x the GEMM path).
  const int64_t tiles = p.N * ceil_div(p.P(), 4) * ceil_div(p.Q(), 4);
  const int64_t u_bytes = kPos * p.K * p.C * int64_t(sizeof(float));
  return p.C >= 64 && p.K >= 64 && tiles >= 64 && (tiles >= 128 || u_bytes <= (int64_t(16) << 20));
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
