// 2-D convolution through packed GEMMs (cpu/gemm.h). Gradients are WRITTEN (=), never accumulated.
//
// Per image n and group g, with col the im2col matrix [Cg*R*S rows (c,r,s)] x [P*Q columns (p,q)]:
//   forward          y_ng  [Kg x PQ]     = W_g [Kg x CgRS] * col_ng                  (+ bias, fused)
//   backward data    dcol  [CgRS x PQ]   = W_g^T * dy_ng, scattered back into dx (col2im)
//   backward weight  dW_g  [Kg x CgRS]   = sum_n dy_ng [Kg x PQ] * col_ng^T
// col never materializes. The forward either
//   - runs on the "phase grid" (see PhaseGeom): the micro-kernels read the im2col rows in place from
//     a padded, stride-phase-split copy of the image, computing a few extra output columns that are
//     dropped when the tile is copied out (chosen when those cost less than im2col), or
//   - packs one im2col micro-panel at a time (L1-resident) right before the micro-kernels use it.
// Backward data with stride 1 is the forward convolution of dy with the transposed, flipped weights
// (when the padding makes that no larger); otherwise dcol is computed a strip at a time and scattered
// into dx. Backward weight runs dot-product micro-kernels between dy rows and phase-grid windows.
// The weights are packed once per call.
//
// Threads: forward splits (n, g, column blocks); backward data splits (n, g, channel blocks) so tasks
// never write the same dx elements; backward weight splits tiles of dW, each summed over n and PQ in
// one fixed order. In all three every output element is summed in an order fixed by the shape and
// the SIMD level alone, so results are bitwise independent of the thread count.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "cpu/conv_gemm_shared.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

// Reduction blocks (the micro-kernels' kc). Fixed, so results never depend on the thread count.
constexpr int64_t kKcMax = 256;
constexpr int64_t kKcGrid = 192;  // on the phase grid, B rows are read in place: keep them in L1

// Splits n_items (panels, channels) into n_blocks nearly equal contiguous blocks: block b is
// [first(b), first(b+1)).
struct EvenSplit {
  int64_t n_items, n_blocks;
  int64_t first(int64_t b) const { return b * n_items / n_blocks; }
};

// Number of blocks to cut `items` per unit into when there are `units` independent units, so that the
// units * blocks tasks keep every thread busy: 1 when units already divide well among threads.
int64_t blocks_per_unit(int64_t units, int64_t items, int64_t threads, int64_t min_blocks = 1,
                        int64_t tasks_per_thread = 4) {
  int64_t b = std::max<int64_t>(1, min_blocks);
  if (threads > 1)
    while (units * b < tasks_per_thread * threads && b < items) ++b;
  return std::min(b, std::max<int64_t>(items, 1));
}

bool is_pointwise(const Conv2dParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
}

// ---------------------------------------------------------------------------------------------------
// Phase planes. Split the zero-padded input into its sh x sw phases, phase (a, b) holding
// x_pad[i*sh + a][j*sw + b] in a plane of row pitch Wq. Tap (r, s) then reads, for output (p, q),
// phase ((r*dh) % sh, (s*dw) % sw) at row p + (r*dh)/sh, column q + (s*dw)/sw: on an output grid of
// pitch Wq (columns q >= Q are extra), the im2col row of tap (c, r, s) is one contiguous stretch of a
// phase plane, starting at tap_offset(c, r, s). Only the phases some tap reads are stored (at most R x S
// of them): a stride larger than the window would otherwise make the workspace grow with the stride
// (sh * sw planes) rather than with the input and the kernel.
struct PhaseGeom {
  int64_t Hq, Wq;  // phase plane rows (data), row pitch
  int64_t XPS;     // elements per phase plane: data, one zero row, then zero slack
  int64_t CPS;     // elements per channel (the stored planes)
  std::vector<int64_t> rows, cols;      // stored row phases a, column phases b (ascending)
  std::vector<int64_t> r_slot, s_slot;  // tap r's index in rows, tap s's in cols

  PhaseGeom(const Conv2dParams& p, int64_t slack) {
    Hq = ceil_div(p.H + 2 * p.pad_h, p.stride_h);
    Wq = ceil_div(p.W + 2 * p.pad_w, p.stride_w);
    XPS = round_up((Hq + 1) * Wq + slack, 16);
    used_phases(p.R, p.dil_h, p.stride_h, rows, r_slot);
    used_phases(p.S, p.dil_w, p.stride_w, cols, s_slot);
    CPS = static_cast<int64_t>(rows.size() * cols.size()) * XPS;
  }
  int64_t tap_offset(const Conv2dParams& p, int64_t c, int64_t r, int64_t s) const {
    const int64_t hr = r * p.dil_h, ws = s * p.dil_w;
    return c * CPS + (r_slot[r] * static_cast<int64_t>(cols.size()) + s_slot[s]) * XPS + (hr / p.stride_h) * Wq +
           ws / p.stride_w;
  }

 private:
  // The phases (k * dil) % stride of taps k < n, ascending, and each tap's index among them.
  static void used_phases(int64_t n, int64_t dil, int64_t stride, std::vector<int64_t>& phases,
                          std::vector<int64_t>& slot) {
    for (int64_t k = 0; k < n; ++k) phases.push_back((k * dil) % stride);
    std::sort(phases.begin(), phases.end());
    phases.erase(std::unique(phases.begin(), phases.end()), phases.end());
    for (int64_t k = 0; k < n; ++k)
      slot.push_back(std::lower_bound(phases.begin(), phases.end(), (k * dil) % stride) - phases.begin());
  }
};

// The phase planes of n_ch channel planes (H x W each, consecutive from src) into dst.
template <typename T>
void build_phase_planes(const T* src, int64_t n_ch, const Conv2dParams& p, const PhaseGeom& pg, T* dst) {
  const int64_t sh = p.stride_h, sw = p.stride_w, Wq = pg.Wq, Hq = pg.Hq;
  const int64_t nb = static_cast<int64_t>(pg.cols.size());
  for (int64_t ch = 0; ch < n_ch; ++ch) {
    const T* plane = src + ch * p.H * p.W;
    for (int64_t ia = 0; ia < static_cast<int64_t>(pg.rows.size()); ++ia)
      for (int64_t ib = 0; ib < nb; ++ib) {
        const int64_t a = pg.rows[ia], b = pg.cols[ib];
        T* d = dst + ch * pg.CPS + (ia * nb + ib) * pg.XPS;
        // columns j with 0 <= j*sw + b - pw < W
        const int64_t j_lo = std::min(Wq, b >= p.pad_w ? 0 : ceil_div(p.pad_w - b, sw));
        const int64_t j_hi =
            std::max(j_lo, std::min(Wq, p.W - 1 + p.pad_w - b < 0 ? 0 : (p.W - 1 + p.pad_w - b) / sw + 1));
        for (int64_t i = 0; i < Hq; ++i) {
          T* row = d + i * Wq;
          const int64_t h = i * sh + a - p.pad_h;
          if (h < 0 || h >= p.H) {
            std::fill(row, row + Wq, T(0));
            continue;
          }
          const T* srow = plane + h * p.W + (j_lo * sw + b - p.pad_w);
          std::fill(row, row + j_lo, T(0));
          if (sw == 1) std::memcpy(row + j_lo, srow, sizeof(T) * (j_hi - j_lo));
          else
            for (int64_t j = j_lo; j < j_hi; ++j) row[j] = srow[(j - j_lo) * sw];
          std::fill(row + j_hi, row + Wq, T(0));
        }
        std::fill(d + Hq * Wq, d + pg.XPS, T(0));
      }
  }
}

// ---------------------------------------------------------------------------------------------------
// Forward: tasks (n, g, block of column panels); for each panel and reduction block, one B micro-panel
// (read in place on the phase grid, or im2col-packed into L1) runs against every packed weight panel
// of the group.

// Whether the forward runs on the phase grid (no im2col; the micro-kernels read the phase planes in
// place) rather than through im2col panels: when the grid's extra columns cost less than im2col.
bool forward_on_grid(const Conv2dParams& p) {
  if (is_pointwise(p)) return false;
  // Measured on Zen 5: the grid wins up to 1/8 extra columns (3x3 pad 1 from 16 columns on);
  // im2col wins for narrower outputs, except with very few input channels, where building the
  // im2col tables of a panel costs as much as using them.
  const int64_t Wq = ceil_div(p.W + 2 * p.pad_w, p.stride_w), Q = p.Q();
  return 8 * (Wq - Q) <= Q || (p.Cg() <= 4 && 2 * (Wq - Q) <= Q);
}

template <typename T>
void forward_grid(T* y, const T* x, const T* bias, const Conv2dParams& p, const GemmKernel<T>& kr, const T* apack,
                  int64_t a_group, int64_t kc) {
  const int64_t G = p.groups, Cg = p.Cg(), Kg = p.Kg(), P = p.P(), Q = p.Q(), PQ = P * Q;
  const int64_t HW = p.H * p.W, Kdim = Cg * p.R * p.S;
  const int mr = kr.mr, nr = kr.nr;
  const int64_t mpan = ceil_div(Kg, mr);
  const PhaseGeom pg(p, 2 * nr);  // micro-kernels read up to a panel past the grid
  const Copy2dFn<T> copy2d = conv_kernels<T>(simd_level()).copy2d;
  const int64_t Wq = pg.Wq, GC = P * Wq, npan = ceil_div(GC, nr);
  std::vector<int64_t> koff(Kdim);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) koff[(c * p.R + r) * p.S + s] = pg.tap_offset(p, c, r, s);

  const int64_t ncb = blocks_per_unit(p.N * G, npan, kernel_threads());
  const EvenSplit split{npan, ncb};
  // A task builds the phase planes of its (n, g); when several tasks share one, they are built once
  // for all beforehand.
  T* shared = nullptr;
  if (ncb > 1) {
    shared = thread_scratch<T>(static_cast<size_t>(p.N * p.C * pg.CPS), kSharedSlot - 2);
    parallel_for(p.N * p.C, [&](int64_t nc) { build_phase_planes(x + nc * HW, 1, p, pg, shared + nc * pg.CPS); });
  }
  parallel_for_dynamic(p.N * G * ncb, [&](int64_t t) {
    const int64_t cb = t % ncb, ng = t / ncb, g = ng % G, n = ng / G;
    const int64_t jp0 = split.first(cb), jp1 = split.first(cb + 1);
    T* cbuf = thread_scratch<T>(static_cast<size_t>(mpan * mr * nr), 2);
    const T* xq = shared + (n * p.C + g * Cg) * pg.CPS;
    if (!shared) {
      T* own = thread_scratch<T>(static_cast<size_t>(Cg * pg.CPS), 1);
      build_phase_planes(x + (n * p.C + g * Cg) * HW, Cg, p, pg, own);
      xq = own;
    }
    T* yg = y + (n * p.K + g * Kg) * PQ;
    const T* bg = bias ? bias + g * Kg : nullptr;
    const T* ag = apack + g * a_group;
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t j0 = jp * nr;
      // the panel's outputs for all Kg channels, accumulated over the reduction blocks in cbuf
      for (int64_t k0 = 0; k0 < Kdim; k0 += kc) {
        const int64_t kl = std::min(kc, Kdim - k0);
        for (int64_t ip = 0; ip < mpan; ++ip) {
          const int64_t m0 = ip * mr;
          kr.ind(kl, ag + ip * Kdim * mr + k0 * mr, xq + j0, koff.data() + k0, cbuf + m0 * nr, nr,
                 static_cast<int>(std::min<int64_t>(mr, Kg - m0)), nr, k0 > 0, bg ? bg + m0 : nullptr);
        }
      }
      // its valid columns (q < Q) into y
      for (int64_t j = j0; j < std::min(GC, j0 + nr);) {
        const int64_t pp = j / Wq, q = j % Wq, run = std::min(Wq - q, std::min(GC, j0 + nr) - j);
        const int64_t valid = std::max<int64_t>(0, std::min(run, Q - q));
        if (valid > 0) {
          if (copy2d) copy2d(cbuf + (j - j0), nr, yg + pp * Q + q, PQ, Kg, valid);
          else
            for (int64_t i = 0; i < Kg; ++i) {
              const T* src = cbuf + i * nr + (j - j0);
              T* dst = yg + i * PQ + pp * Q + q;
              for (int64_t u = 0; u < valid; ++u) dst[u] = src[u];
            }
        }
        j += run;
      }
    }
  });
}

template <typename T>
void forward_impl(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.Cg(), Kg = p.Kg(), PQ = p.P() * p.Q(), Q = p.Q();
  const int64_t HW = p.H * p.W, RS = p.R * p.S, Kdim = Cg * RS;
  const GemmKernel<T> kr = pick_gemm_kernel<T>(Kg, PQ);
  const ConvKernels<T> ck = conv_kernels<T>(simd_level());
  const int mr = kr.mr, nr = kr.nr;
  const bool grid = kr.ind && forward_on_grid(p);
  const int64_t kc = split_block(Kdim, grid ? kKcGrid : kKcMax);
  const int64_t mpan = ceil_div(Kg, mr), npan = ceil_div(PQ, nr);
  const int64_t a_group = mpan * Kdim * mr;  // packed weights of one group

  T* apack = thread_scratch<T>(static_cast<size_t>(G * a_group), kSharedSlot);
  parallel_for(G * mpan, [&](int64_t t) {
    const int64_t g = t / mpan, ip = t % mpan;
    const int64_t m0 = ip * mr, mi = std::min<int64_t>(mr, Kg - m0);
    pack_a(w + (g * Kg + m0) * Kdim, Kdim, 1, mi, Kdim, mr, apack + g * a_group + ip * Kdim * mr);
  });
  if (grid) {
    forward_grid(y, x, bias, p, kr, apack, a_group, kc);
    return;
  }

  const int64_t ncb = blocks_per_unit(p.N * G, npan, kernel_threads());
  const EvenSplit split{npan, ncb};
  const bool pointwise = is_pointwise(p);
  const int64_t max_seg = max_segments(nr, Q, 1);
  // Input distance from one column panel to the next (for prefetching).
  const int64_t pf = nr >= Q ? (nr / Q) * p.stride_h * p.W : nr * p.stride_w;

  parallel_for_dynamic(p.N * G * ncb, [&](int64_t t) {
    const int64_t cb = t % ncb, ng = t / ncb, g = ng % G, n = ng / G;
    const int64_t jp0 = split.first(cb), jp1 = split.first(cb + 1);
    const T* xg = x + (n * p.C + g * Cg) * HW;
    T* yg = y + (n * p.K + g * Kg) * PQ;
    const T* bg = bias ? bias + g * Kg : nullptr;
    const T* ag = apack + g * a_group;
    T* bbuf = thread_scratch<T>(static_cast<size_t>(kc * nr), 0);
    Segment* seg = thread_scratch<Segment>(static_cast<size_t>(max_seg), 0);
    Run* run = thread_scratch<Run>(static_cast<size_t>(RS * max_seg), 0);
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t j0 = jp * nr, nj = std::min<int64_t>(nr, PQ - j0);
      int ns = 0;
      if (!pointwise) {
        const Piece piece{0, j0, nj, 0, 0};
        ns = make_runs(p, &piece, 1, seg, run);
      }
      for (int64_t k0 = 0; k0 < Kdim; k0 += kc) {
        const int64_t kl = std::min(kc, Kdim - k0);
        if (pointwise) pack_b(xg + k0 * HW + j0, HW, 1, kl, nj, nr, bbuf);
        else ck.im2col(xg, HW, RS, p.stride_w, k0, kl, run, ns, nj, nr, nr, jp + 1 < jp1 ? pf : 0, bbuf);
        for (int64_t ip = 0; ip < mpan; ++ip) {
          const int64_t m0 = ip * mr;
          kr.fn(kl, ag + ip * Kdim * mr + k0 * mr, bbuf, yg + m0 * PQ + j0, PQ,
                static_cast<int>(std::min<int64_t>(mr, Kg - m0)), static_cast<int>(nj), k0 > 0,
                bg ? bg + m0 : nullptr);
        }
      }
    }
  });
}

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const TensorView& wv, const TensorView& bv,
             const Conv2dParams& p) {
  forward_impl<T>(yv.ptr<T>(), xv.ptr<T>(), wv.ptr<T>(), bv.ptr<T>(), p);
}

// ---------------------------------------------------------------------------------------------------
// Backward data.
//
// Stride 1 (with pad <= dil * (k - 1) per axis): dx is the forward convolution of dy with the weights
// transposed (in/out channels) and flipped, padding dil * (k - 1) - pad; that runs through the forward
// path above.
//
// Otherwise: dcol = W_g^T * dy_ng computed a strip of rows x one column panel at a time, scattered
// into dx (col2im) right away. Tasks own (n, g, channel block), so they never write the same dx.
bool backward_data_as_forward(const Conv2dParams& p) {
  // The flipped convolution reads dy padded to H x W outputs: worth it only while that costs little
  // more than the direct dcol path (padding close to 'same').
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= p.dil_h * (p.R - 1) && p.pad_w <= p.dil_w * (p.S - 1) &&
         p.Cg() >= 8 && 8 * p.H * p.W <= 9 * p.P() * p.Q();
}

template <typename T>
void backward_data_flipped(T* dx, const T* dy, const T* w, const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.Cg(), Kg = p.Kg(), R = p.R, S = p.S, RS = R * S;
  Conv2dParams q = p;
  q.C = p.K;
  q.H = p.P();
  q.W = p.Q();
  q.K = p.C;
  q.pad_h = p.dil_h * (R - 1) - p.pad_h;
  q.pad_w = p.dil_w * (S - 1) - p.pad_w;
  // w2[g*Cg + c][kk][r][s] = w[g*Kg + kk][c][R-1-r][S-1-s]
  T* w2 = thread_scratch<T>(static_cast<size_t>(p.C * Kg * RS), kSharedSlot - 1);
  // Blocks of 16 channels: each kk reads one contiguous stretch of w and appends to 16 rows of w2 (one
  // channel at a time read w with a stride of Cg*R*S, missing the cache for large weights).
  constexpr int64_t kBlock = 16;
  const int64_t nb = ceil_div(Cg, kBlock);
  parallel_for(G * nb, [&](int64_t t) {
    const int64_t g = t / nb, c0 = (t % nb) * kBlock, c1 = std::min(Cg, c0 + kBlock);
    for (int64_t kk = 0; kk < Kg; ++kk)
      for (int64_t c = c0; c < c1; ++c) {
        const T* src = w + ((g * Kg + kk) * Cg + c) * RS;
        T* dst = w2 + ((g * Cg + c) * Kg + kk) * RS;
        for (int64_t i = 0; i < RS; ++i) dst[i] = src[RS - 1 - i];
      }
  });
  forward_impl<T>(dx, dy, w2, nullptr, q);
}

template <typename T>
void backward_data(const TensorView& dxv, const TensorView& dyv, const TensorView& wv, const Conv2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* w = wv.ptr<T>();
  T* dx = dxv.ptr<T>();
  if (backward_data_as_forward(p)) {
    backward_data_flipped(dx, dy, w, p);
    return;
  }
  const int64_t G = p.groups, Cg = p.Cg(), Kg = p.Kg(), PQ = p.P() * p.Q(), Q = p.Q();
  const int64_t HW = p.H * p.W, RS = p.R * p.S, Kdim = Cg * RS;
  const GemmKernel<T> kr = pick_gemm_kernel<T>(Kdim, PQ);
  const ConvKernels<T> ck = conv_kernels<T>(simd_level());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t kc = split_block(Kg, kKcMax);

  // Channel blocks within a group, so that small batches still keep every thread busy.
  const int64_t ncb = blocks_per_unit(p.N * G, Cg, kernel_threads());
  const EvenSplit csplit{Cg, ncb};
  const int64_t max_rows = ceil_div(Cg, ncb) * RS;
  const int64_t a_block = round_up(max_rows, mr) * Kg;  // packed W^T of one (group, channel block)

  T* apack = thread_scratch<T>(static_cast<size_t>(G * ncb * a_block), kSharedSlot);
  parallel_for(G * ncb, [&](int64_t t) {
    const int64_t g = t / ncb, cb = t % ncb;
    const int64_t r0 = csplit.first(cb) * RS, r1 = csplit.first(cb + 1) * RS;
    // A(i, k) = w[g*Kg + k][r0 + i]
    pack_a(w + g * Kg * Kdim + r0, 1, Kdim, r1 - r0, Kg, mr, apack + t * a_block);
  });

  // Rows of dcol computed (and scattered) at a time: a strip [mc x nr] that stays in L1.
  // With stride_w 1, col2im gathers each kernel row's S taps at once: strips then hold whole groups
  // of S rows (mc a multiple of lcm(mr, S)).
  int64_t mc = std::max<int64_t>(mr, (4096 / nr) / mr * mr);
  const int64_t lcm_rs = mr / std::gcd<int64_t>(mr, p.S) * p.S;
  const bool gather = ck.col2im_gather && p.stride_w == 1 && lcm_rs <= 256;
  if (gather) mc = lcm_rs * std::max<int64_t>(1, mc / lcm_rs);
  const DwGeom geom{p.H, p.W, p.P(), Q, p.R, p.S, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  const int64_t max_seg = max_segments(nr, Q, 1);

  parallel_for_dynamic(p.N * G * ncb, [&](int64_t t) {
    const int64_t cb = t % ncb, ng = t / ncb, g = ng % G, n = ng / G;
    const int64_t c0 = csplit.first(cb), c1 = csplit.first(cb + 1);
    const int64_t r0 = c0 * RS, rows = (c1 - c0) * RS;
    T* dxg = dx + (n * p.C + g * Cg) * HW;
    const T* dyg = dy + (n * p.K + g * Kg) * PQ;
    const T* ab = apack + (g * ncb + cb) * a_block;
    std::memset(dxg + c0 * HW, 0, sizeof(T) * (c1 - c0) * HW);
    T* bbuf = thread_scratch<T>(static_cast<size_t>(Kg * nr), 0);
    T* sbuf = thread_scratch<T>(static_cast<size_t>(mc * nr), 1);
    Segment* seg = thread_scratch<Segment>(static_cast<size_t>(max_seg), 0);
    Run* run = thread_scratch<Run>(static_cast<size_t>(RS * max_seg), 0);
    for (int64_t j0 = 0; j0 < PQ; j0 += nr) {
      const int64_t nj = std::min<int64_t>(nr, PQ - j0);
      const Piece piece{0, j0, nj, 0, 0};
      const int ns = make_runs(p, &piece, 1, seg, run);
      pack_b(dyg + j0, PQ, 1, Kg, nj, nr, bbuf);
      for (int64_t i0 = 0; i0 < rows; i0 += mc) {
        const int64_t mi = std::min(mc, rows - i0);
        for (int64_t k0 = 0; k0 < Kg; k0 += kc) {
          const int64_t kl = std::min(kc, Kg - k0);
          for (int64_t ii = 0; ii < mi; ii += mr) {
            kr.fn(kl, ab + (i0 + ii) * Kg + k0 * mr, bbuf + k0 * nr, sbuf + ii * nr, nr,
                  static_cast<int>(std::min<int64_t>(mr, mi - ii)), static_cast<int>(nj), k0 > 0, nullptr);
          }
        }
        if (gather) ck.col2im_gather(dxg, geom, r0 + i0, mi, j0, nj, sbuf, nr);
        else ck.col2im(dxg, HW, RS, p.stride_w, r0 + i0, mi, sbuf, nr, run, ns);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Backward weight: dW_g[k][(c,r,s)] = sum over (n, p, q) of dy[n][g*Kg + k][p][q] * x_pad[n][c][p*sh + r*dh][q*sw + s*dw].
//
// No im2col: on the phase grid (see PhaseGeom, built for a batch of images at a time) every im2col
// row is one contiguous stretch of a phase plane. The reduction over (n, grid) runs in fixed chunks of whole images (or pieces of one image); per chunk a task copies its dy rows onto the
// grid (zeros in the columns q >= Q, so the stretches' extra columns add nothing) and runs
// dot-product micro-kernels of those rows against the stretches. The bias gradient is summed from the
// same copies. Tasks own tiles of dW and every element is summed chunk by chunk in ascending order:
// the result is the same for any number of threads.
constexpr int64_t kDotChunk = 1024;
constexpr int64_t kPhaseBudget = int64_t(64) << 20;  // bytes of phase planes per batch of images

// Sum of n values in a fixed order (8 interleaved partial sums, then a fixed tree).
template <typename T>
T fixed_sum(const T* d, int64_t n) {
  T part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; ++u) part[u] += d[i + u];
  T s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; ++i) s += d[i];
  return s;
}

// Bias gradient alone (when dw is not wanted): per k, image by image.
template <typename T>
void backward_bias(T* db, const T* dy, const Conv2dParams& p) {
  const int64_t PQ = p.P() * p.Q();
  parallel_for(p.K, [&](int64_t k) {
    T acc = 0;
    for (int64_t n = 0; n < p.N; ++n) acc += fixed_sum(dy + (n * p.K + k) * PQ, PQ);
    db[k] = acc;
  });
}

template <typename T>
void backward_weight(const TensorView& dwv, const TensorView& dbv, const TensorView& dyv, const TensorView& xv,
                     const Conv2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  T* dw = dwv.ptr<T>();
  T* db = dbv.ptr<T>();
  if (!dw) {
    backward_bias(db, dy, p);
    return;
  }
  const int64_t G = p.groups, Cg = p.Cg(), Kg = p.Kg(), P = p.P(), Q = p.Q(), RS = p.R * p.S, Kdim = Cg * RS;
  const ConvKernels<T> ck = conv_kernels<T>(simd_level());
  const DotKernel<T> dk = ck.dot;
  const int mr = dk.mr, nr = dk.nr, VL = dk.kalign;
  const int64_t kc = round_up(kDotChunk, VL);

  // Phase planes of the padded input (see PhaseGeom), built for a batch of images at a time.
  const PhaseGeom pg(p, VL);
  const int64_t Wq = pg.Wq, CPS = pg.CPS;
  const int64_t DPS = round_up(P * Wq, VL);  // one dy plane on the grid
  const int64_t batch_images = std::max<int64_t>(1, kPhaseBudget / (p.C * CPS * int64_t(sizeof(T))));
  T* xph = nullptr;  // allocated below, for the largest batch
  auto build_phases = [&](int64_t nb0, int64_t nb1) {
    parallel_for((nb1 - nb0) * p.C, [&](int64_t t) {
      build_phase_planes(x + (nb0 * p.C + t) * p.H * p.W, 1, p, pg, xph + t * CPS);
    });
  };

  // Chunks of the reduction: whole images, or near-equal pieces of one image; each piece a multiple
  // of VL long. Piece (n, g0, len) covers grid positions [g0, g0 + len) of image n.
  struct Part {
    int64_t n, g0, len;
  };
  std::vector<Part> parts;
  std::vector<int64_t> first{0};
  if (DPS <= kc) {
    const int64_t per = kc / DPS;
    for (int64_t n0 = 0; n0 < p.N; n0 += per) {
      for (int64_t n = n0; n < std::min(p.N, n0 + per); ++n) parts.push_back({n, 0, DPS});
      first.push_back(static_cast<int64_t>(parts.size()));
    }
  } else {
    const int64_t piece = round_up(ceil_div(DPS, ceil_div(DPS, kc)), VL);
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t g0 = 0; g0 < DPS; g0 += piece) {
        parts.push_back({n, g0, std::min(piece, DPS - g0)});
        first.push_back(static_cast<int64_t>(parts.size()));
      }
  }
  const int64_t n_chunks = static_cast<int64_t>(first.size()) - 1;
  int64_t max_np = 0, max_len = 0;
  for (int64_t c = 0; c < n_chunks; ++c) {
    max_np = std::max(max_np, first[c + 1] - first[c]);
    int64_t l = 0;
    for (int64_t k = first[c]; k < first[c + 1]; ++k) l += parts[k].len;
    max_len = std::max(max_len, l);
  }

  // Offset of im2col row (c, r, s) from the group's first channel in the phase planes.
  std::vector<int64_t> col_off(Kdim);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) col_off[(c * p.R + r) * p.S + s] = pg.tap_offset(p, c, r, s);

  // Tiles of dW: at most 128 rows per task (its dy rows of a chunk stay in L2). For more tasks, split
  // the side that is cheaper to re-read: more column blocks re-read dy, more row blocks re-read x.
  const int64_t ntile_c = ceil_div(Kdim, nr), ntile_r = ceil_div(Kg, mr);
  const int64_t threads = kernel_threads();
  int64_t nrb = ceil_div(ntile_r, std::max<int64_t>(1, 128 / mr)), ncb = 1;
  if (Kg * P * Q > Cg * p.H * p.W) nrb = blocks_per_unit(G, ntile_r, threads, nrb, 2);
  if (G * nrb < 2 * threads) ncb = blocks_per_unit(G * nrb, ntile_c, threads, 1, 2);
  const EvenSplit csplit{ntile_c, ncb}, rsplit{ntile_r, nrb};
  const int64_t max_rows = ceil_div(ntile_r, nrb) * mr;

  // Batches of whole chunks (at least one chunk each), covering images [nb0, nb1).
  struct Batch {
    int64_t ch0, ch1, nb0, nb1;
  };
  std::vector<Batch> batches;
  int64_t max_batch = 0;
  for (int64_t ch0 = 0; ch0 < n_chunks;) {
    const int64_t nb0 = parts[first[ch0]].n;
    int64_t ch1 = ch0 + 1;
    while (ch1 < n_chunks && parts[first[ch1 + 1] - 1].n < nb0 + batch_images) ++ch1;
    const int64_t nb1 = parts[first[ch1] - 1].n + 1;
    batches.push_back({ch0, ch1, nb0, nb1});
    max_batch = std::max(max_batch, nb1 - nb0);
    ch0 = ch1;
  }
  xph = thread_scratch<T>(static_cast<size_t>(max_batch * p.C * CPS), kSharedSlot);
  for (const Batch& bt : batches) {
    const int64_t ch0 = bt.ch0, ch1 = bt.ch1, nb0 = bt.nb0;
    build_phases(nb0, bt.nb1);
  parallel_for_dynamic(G * nrb * ncb, [&](int64_t t) {
    const int64_t cb = t % ncb, rb = (t / ncb) % nrb, g = t / (ncb * nrb);
    const int64_t m0 = rsplit.first(rb) * mr, m1 = std::min(Kg, rsplit.first(rb + 1) * mr);
    const int64_t n0 = csplit.first(cb) * nr, n1 = std::min(Kdim, csplit.first(cb + 1) * nr);
    const bool bias_here = db && cb == 0;  // db is summed in place, chunk by chunk
    T* abuf = thread_scratch<T>(static_cast<size_t>(max_rows * max_len), 0);
    const T** aptr = thread_scratch<const T*>(static_cast<size_t>(max_np), 0);
    const T** bptr = thread_scratch<const T*>(static_cast<size_t>(nr), 1);
    int64_t* off = thread_scratch<int64_t>(static_cast<size_t>(max_np), 0);
    int64_t* len = thread_scratch<int64_t>(static_cast<size_t>(max_np), 1);
    int64_t* astart = thread_scratch<int64_t>(static_cast<size_t>(max_np), 2);
    T* cg = dw + g * Kg * Kdim;
    const T* xg = xph + g * Cg * CPS;
    const int64_t rows = round_up(m1 - m0, mr);
    for (int64_t ch = ch0; ch < ch1; ++ch) {
      const Part* pc = parts.data() + first[ch];
      const int np = static_cast<int>(first[ch + 1] - first[ch]);
      int64_t clen = 0;
      for (int k = 0; k < np; ++k) {
        off[k] = (pc[k].n - nb0) * p.C * CPS + pc[k].g0;
        len[k] = pc[k].len;
        astart[k] = clen;
        clen += pc[k].len;
      }
      // dy rows m0..m1 of the chunk on the grid (rows up to a multiple of mr are zero)
      for (int64_t i = 0; i < rows; ++i) {
        T* d = abuf + i * clen;
        if (m0 + i >= m1) {
          std::fill(d, d + clen, T(0));
          continue;
        }
        for (int k = 0; k < np; ++k) {
          const T* src = dy + ((pc[k].n * p.K + g * Kg + m0 + i) * P) * Q;
          T* dd = d + astart[k];
          const int64_t g0 = pc[k].g0, g1 = g0 + pc[k].len;
          if (Wq == Q) {  // the grid is dy's own layout
            const int64_t valid = std::max<int64_t>(0, std::min(g1, P * Q) - g0);
            std::memcpy(dd, src + g0, sizeof(T) * valid);
            std::fill(dd + valid, dd + (g1 - g0), T(0));
            continue;
          }
          for (int64_t pos = g0; pos < g1;) {
            const int64_t pp = pos / Wq, q = pos % Wq;
            const int64_t run = std::min(Wq - q, g1 - pos);
            T* o = dd + (pos - g0);
            const int64_t valid = pp < P ? std::max<int64_t>(0, std::min(run, Q - q)) : 0;
            const T* sr = src + pp * Q + q;
            for (int64_t u = 0; u < valid; ++u) o[u] = sr[u];
            for (int64_t u = valid; u < run; ++u) o[u] = T(0);
            pos += run;
          }
        }
        if (bias_here) {
          const T sum = fixed_sum(d, clen);
          T& out = db[g * Kg + m0 + i];
          out = ch == 0 ? sum : out + sum;
        }
      }
      // dy rows outer (they stay in L1 across the taps), taps inner (a channel's taps read
      // overlapping windows of its phase planes, so they mostly hit L1 too).
      for (int64_t i = m0; i < m1; i += mr) {
        const int mi = static_cast<int>(std::min<int64_t>(mr, m1 - i));
        for (int k = 0; k < np; ++k) aptr[k] = abuf + (i - m0) * clen + astart[k];
        for (int64_t j = n0; j < n1; j += nr) {
          const int nj = static_cast<int>(std::min<int64_t>(nr, n1 - j));
          for (int jj = 0; jj < nr; ++jj) bptr[jj] = xg + col_off[j + std::min(jj, nj - 1)];  // past nj: ignored
          dk.fn(np, aptr, clen, off, len, bptr, cg + i * Kdim + j, Kdim, mi, nj, ch > 0);
        }
      }
    }
  });
  }
}

}  // namespace

FL_WEIGHT_OP_ENTRY_POINTS(Conv2dParams, conv2d_gemm, forward, backward_data, backward_weight)

}  // namespace fl::cpu
