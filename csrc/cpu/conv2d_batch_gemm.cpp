// 2-D convolution as one GEMM over the whole batch (groups == 1), for layers with a small output
// (ResNet-18's 4x4 and 8x8 layers; also the adjoint convolutions of DCGAN's small transposed
// convolutions). The per-image GEMMs of conv2d_gemm.cpp are only P*Q columns wide there and re-read the
// packed weights once per image; here the weights are packed once and every row tile of the batch
// reuses them. Gradients are written (=).
//
// Rows are the output pixels of the batch, i = (n, p, q); im2col columns are j = (c, r, s):
//   forward          Y   [NPQ x K]   = col(x) [NPQ x CRS] * W^T [CRS x K]  (+ bias), col(x) gathered (im2col)
//   backward data    col [NPQ x CRS] = dY [NPQ x K] * W [K x CRS], then scattered into dx (col2im)
//   backward weight  dW  [K x CRS]   = dY^T [K x NPQ] * col(x), a reduction over all NPQ rows
// The forward is computed transposed (see forward_impl). Backward data beyond 32 pixels per image runs
// conv2d_gemm.cpp's per-image path (measured faster there).
// Panels are packed straight from the NCHW arrays; nothing of col is materialized beyond one tile.
// Determinism: every GEMM element is summed over fixed kc blocks in ascending order (cpu/gemm.h); a task
// owns whole images (forward, backward data) or whole column panels of dW (backward weight), and each
// dx element is accumulated in a fixed (p, r, q, s) order by one task, so results do not depend on the
// thread count (nor on how many images a task takes).
#include <algorithm>
#include <cstring>

#include "cpu/conv_gemm_shared.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

constexpr int64_t kKc = 256;  // reduction block of the micro-kernels
// Rows (output pixels) per task, rounded to whole images: each packed B micro-panel (L1) is reused for
// kTileRows / mr micro-kernel calls, which keeps the stream of packed weights from L3 cheap.
constexpr int64_t kTileRows = 128;
constexpr int64_t kPanelsPerTask = 4;  // forward: column panels (of nr pixels) per task

struct Geo {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, dh, dw;
  int64_t HW() const { return H * W; }
  int64_t PQ() const { return P * Q; }
  int64_t RS() const { return R * S; }
  int64_t CRS() const { return C * R * S; }
};

Geo geo(const Conv2dParams& p) {
  return Geo{p.N,     p.C,        p.H,        p.W,     p.K,     p.R,     p.S,    p.P(),
             p.Q(),   p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
}

// Images per task: about kTileRows rows; with few tasks, a multiple of the thread count of them so the
// threads stay balanced. The results do not depend on it.
int64_t images_per_task(const Geo& g) {
  const int64_t ipt = std::max<int64_t>(1, kTileRows / g.PQ()), threads = kernel_threads();
  int64_t tasks = ceil_div(g.N, ipt);
  if (threads > 1 && tasks < 4 * threads) tasks = std::min(g.N, round_up(tasks, threads));
  return ceil_div(g.N, tasks);
}

// A(i, k) = a[n, k0 + k, pq] for the mi rows i0 .. i0 + mi - 1 (i = n PQ + pq) of an [N, ch, PQ] array,
// one panel of mr rows (zero past mi).
template <typename T>
void pack_rows(const T* a, int64_t ch, int64_t PQ, int64_t i0, int mi, int64_t k0, int64_t kl, int mr, T* d) {
  int64_t base[64];
  for (int i = 0; i < mi; ++i) {
    const int64_t r = i0 + i, n = r / PQ;
    base[i] = n * ch * PQ + k0 * PQ + (r - n * PQ);
  }
  for (int64_t k = 0; k < kl; ++k) {
    T* dk = d + k * mr;
    for (int i = 0; i < mi; ++i) dk[i] = a[base[i] + k * PQ];
    for (int i = mi; i < mr; ++i) dk[i] = T(0);
  }
}

// col(x)(i, j) for output pixel i = (n, p, q) and column j = (c, r, s): x[n, c, p sh - ph + r dh,
// q sw - pw + s dw], zero outside. Fills d[jj * ld_j + ii * ld_i] for rows i0 .. i0 + mi - 1 (ii < mi,
// mi <= kMaxRows) and columns j0 .. j0 + nj - 1 (jj < nj). Columns outer, rows inner: each row's
// window origin is computed once, and a column adds one offset to it.
constexpr int64_t kMaxRows = 256;
template <typename T>
void gather_col(const T* x, const Geo& g, int64_t i0, int64_t mi, int64_t j0, int64_t nj, T* d, int64_t ld_i,
                int64_t ld_j) {
  const int64_t HW = g.HW(), RS = g.RS(), PQ = g.PQ();
  int64_t h0[kMaxRows], w0[kMaxRows], base[kMaxRows];
  for (int64_t ii = 0; ii < mi; ++ii) {
    const int64_t row = i0 + ii, n = row / PQ, p = (row % PQ) / g.Q, q = row % g.Q;
    h0[ii] = p * g.sh - g.ph;
    w0[ii] = q * g.sw - g.pw;
    base[ii] = n * g.C * HW + h0[ii] * g.W + w0[ii];
  }
  int64_t c = j0 / RS, r = (j0 % RS) / g.S, s = j0 % g.S;
  for (int64_t jj = 0; jj < nj; ++jj) {
    const int64_t dh = r * g.dh, dw = s * g.dw, off = c * HW + dh * g.W + dw;
    T* dj = d + jj * ld_j;
    for (int64_t ii = 0; ii < mi; ++ii) {
      const bool in = static_cast<uint64_t>(h0[ii] + dh) < static_cast<uint64_t>(g.H) &&
                      static_cast<uint64_t>(w0[ii] + dw) < static_cast<uint64_t>(g.W);
      dj[ii * ld_i] = in ? x[base[ii] + off] : T(0);
    }
    if (++s == g.S) {
      s = 0;
      if (++r == g.R) r = 0, ++c;
    }
  }
}

// ---- forward: Y^T[k, (n,p,q)] = sum_j W[k, j] col(x)^T[j, (n,p,q)] + bias[k] ----
// Computed transposed, with the batch's pixels as the GEMM columns: a column panel spans images (its run
// table has one piece per image), so no panel is half empty when P*Q < nr, and the im2col panels are nr
// wide (the vectorized im2col). A task of a few column panels streams the packed weights once.
template <typename T>
void forward_impl(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p) {
  const Geo g = geo(p);
  const int64_t PQ = g.PQ(), HW = g.HW(), RS = g.RS(), Kdim = g.CRS(), cols = g.N * PQ;
  const GemmKernel<T> kr = pick_gemm_kernel<T>(g.K, cols);
  const ConvKernels<T> ck = conv_kernels<T>(simd_level());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t kc = split_block(Kdim, kKc), mpan = ceil_div(g.K, mr), npan = ceil_div(cols, nr);
  T* apack = thread_scratch<T>(static_cast<size_t>(mpan * mr * Kdim), kSharedSlot);
  parallel_for(mpan, [&](int64_t ip) {
    const int64_t m0 = ip * mr;
    pack_a(w + m0 * Kdim, Kdim, 1, std::min<int64_t>(mr, g.K - m0), Kdim, mr, apack + ip * Kdim * mr);
  });
  const int64_t max_pieces = ceil_div(nr - 1, PQ) + 1, max_seg = max_segments(nr, g.Q, max_pieces);
  // A task takes up to kPanelsPerTask column panels and runs each packed weight panel (L1) against all
  // of them: the weights are streamed once per task, not once per panel (with 2 threads, once per
  // 32 pixels was bound by memory bandwidth). The result does not depend on the split.
  const int64_t ppt = std::max<int64_t>(1, std::min(kPanelsPerTask, ceil_div(npan, kernel_threads())));
  parallel_for_dynamic(ceil_div(npan, ppt), [&](int64_t t) {
    const int64_t jp0 = t * ppt, nb = std::min(npan, jp0 + ppt) - jp0;
    T* bbuf = thread_scratch<T>(static_cast<size_t>(ppt * kc * nr), 0);
    T* cbuf = thread_scratch<T>(static_cast<size_t>(ppt * mpan * mr * nr), 1);
    Piece* pieces = thread_scratch<Piece>(static_cast<size_t>(ppt * max_pieces), 0);
    Segment* seg = thread_scratch<Segment>(static_cast<size_t>(max_seg), 0);
    Run* run = thread_scratch<Run>(static_cast<size_t>(ppt * RS * max_seg), 0);
    int np[kPanelsPerTask], ns[kPanelsPerTask];
    int64_t nj[kPanelsPerTask];
    const T* xg[kPanelsPerTask];
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t j0 = (jp0 + b) * nr, nfirst = j0 / PQ;
      Piece* pb = pieces + b * max_pieces;
      nj[b] = std::min<int64_t>(nr, cols - j0);
      np[b] = 0;
      for (int64_t j = j0; j < j0 + nj[b];) {
        const int64_t n = j / PQ, pq0 = j - n * PQ, len = std::min(PQ - pq0, j0 + nj[b] - j);
        pb[np[b]++] = Piece{j - j0, pq0, len, (n - nfirst) * g.C * HW, n};
        j += len;
      }
      ns[b] = make_runs(p, pb, np[b], seg, run + b * RS * max_seg);
      xg[b] = x + nfirst * g.C * HW;
    }
    for (int64_t k0 = 0; k0 < Kdim; k0 += kc) {
      const int64_t kl = std::min(kc, Kdim - k0);
      for (int64_t b = 0; b < nb; ++b)
        ck.im2col(xg[b], HW, RS, g.sw, k0, kl, run + b * RS * max_seg, ns[b], nj[b], nr, nr, 0, bbuf + b * kc * nr);
      for (int64_t ip = 0; ip < mpan; ++ip) {
        const int64_t m0 = ip * mr;
        for (int64_t b = 0; b < nb; ++b)
          kr.fn(kl, apack + ip * Kdim * mr + k0 * mr, bbuf + b * kc * nr, cbuf + (b * mpan * mr + m0) * nr, nr,
                static_cast<int>(std::min<int64_t>(mr, g.K - m0)), static_cast<int>(nj[b]), k0 > 0,
                bias ? bias + m0 : nullptr);
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      const T* cb = cbuf + b * mpan * mr * nr;
      for (int i = 0; i < np[b]; ++i) {
        const Piece& pc = pieces[b * max_pieces + i];
        T* yn = y + pc.n * g.K * PQ + pc.pq0;
        if (ck.copy2d) ck.copy2d(cb + pc.dst, nr, yn, PQ, g.K, pc.len);
        else
          for (int64_t k = 0; k < g.K; ++k)
            for (int64_t u = 0; u < pc.len; ++u) yn[k * PQ + u] = cb[k * nr + pc.dst + u];
      }
    }
  });
}

// ---- backward data: col[(n,p,q), j] = sum_k dY[(n,p,q), k] W[k, j], scattered (col2im) into dx ----
template <typename T>
void backward_data_impl(T* dx, const T* dy, const T* w, const Geo& g) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(kTileRows, g.CRS());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t PQ = g.PQ(), HW = g.HW(), RS = g.RS(), CRS = g.CRS(), Kd = g.K;
  const int64_t kc = split_block(Kd, kKc), nkb = ceil_div(Kd, kc), npan = ceil_div(CRS, nr);
  // W packed once: B(k, j) = w[k CRS + j]; block kb, panel jp at bpack + kb kc npan nr + jp kl nr.
  T* bpack = thread_scratch<T>(static_cast<size_t>(Kd * npan * nr), kSharedSlot);
  parallel_for(nkb * npan, [&](int64_t t) {
    const int64_t kb = t / npan, jp = t % npan, k0 = kb * kc, kl = std::min(kc, Kd - k0), j0 = jp * nr;
    pack_b(w + k0 * CRS + j0, CRS, 1, kl, std::min<int64_t>(nr, CRS - j0), nr,
           bpack + kb * kc * npan * nr + jp * kl * nr);
  });
  const int64_t ipt = images_per_task(g);
  parallel_for_dynamic(ceil_div(g.N, ipt), [&](int64_t t) {
    const int64_t n0 = t * ipt, n1 = std::min(g.N, n0 + ipt), rows = (n1 - n0) * PQ;
    const int64_t ld = npan * nr, mpan = ceil_div(rows, mr);
    T* tile = thread_scratch<T>(static_cast<size_t>(mpan * mr * ld), 0);
    T* apack = thread_scratch<T>(static_cast<size_t>(mpan * mr * kc), 1);
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * kc, kl = std::min(kc, Kd - k0);
      for (int64_t ip = 0; ip < mpan; ++ip)
        pack_rows(dy, g.K, PQ, n0 * PQ + ip * mr, static_cast<int>(std::min<int64_t>(mr, rows - ip * mr)), k0, kl,
                  mr, apack + ip * kl * mr);
      const T* bblk = bpack + kb * kc * npan * nr;
      for (int64_t jp = 0; jp < npan; ++jp) {
        const int nj = static_cast<int>(std::min<int64_t>(nr, CRS - jp * nr));
        for (int64_t ip = 0; ip < mpan; ++ip)
          kr.fn(kl, apack + ip * kl * mr, bblk + jp * kl * nr, tile + ip * mr * ld + jp * nr, ld,
                static_cast<int>(std::min<int64_t>(mr, rows - ip * mr)), nj, kb > 0, static_cast<const T*>(nullptr));
      }
    }
    // col2im: dx[n, c, p sh - ph + r dh, q sw - pw + s dw] += tile[(n, p, q), (c, r, s)], in (p, r, q, s) order.
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < g.C; ++c) {
        T* xc = dx + (n * g.C + c) * HW;
        std::fill(xc, xc + HW, T(0));
        const T* tc = tile + (n - n0) * PQ * ld + c * RS;
        for (int64_t p = 0; p < g.P; ++p)
          for (int64_t r = 0; r < g.R; ++r) {
            const int64_t hh = p * g.sh - g.ph + r * g.dh;
            if (hh < 0 || hh >= g.H) continue;
            T* xrow = xc + hh * g.W;
            for (int64_t q = 0; q < g.Q; ++q) {
              const T* src = tc + (p * g.Q + q) * ld + r * g.S;
              const int64_t w0 = q * g.sw - g.pw;
              for (int64_t s = 0; s < g.S; ++s) {
                const int64_t ww = w0 + s * g.dw;
                if (ww >= 0 && ww < g.W) xrow[ww] += src[s];
              }
            }
          }
      }
  });
}

// ---- backward weight: dW[k, j] = sum over rows (n,p,q) of dy[n, k, p, q] col(x)[(n,p,q), j] ----
template <typename T>
void backward_weight_impl(T* dw, const T* x, const T* dy, const Geo& g) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(g.K, g.CRS());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t PQ = g.PQ(), CRS = g.CRS(), Kd = g.N * PQ;
  const int64_t kc = split_block(Kd, kKc), nkb = ceil_div(Kd, kc), mpan = ceil_div(g.K, mr);
  const int64_t npan = ceil_div(CRS, nr);
  // dY^T packed once: A(k, row) = dy[n, k, pq]; block kb, panel ip at apack + kb kc mpan mr + ip kl mr.
  T* apack = thread_scratch<T>(static_cast<size_t>(Kd * mpan * mr), kSharedSlot);
  parallel_for(nkb * mpan, [&](int64_t t) {
    const int64_t kb = t / mpan, ip = t % mpan, k0 = kb * kc, kl = std::min(kc, Kd - k0), m0 = ip * mr;
    const int64_t mi = std::min<int64_t>(mr, g.K - m0);
    T* d = apack + kb * kc * mpan * mr + ip * kl * mr;
    for (int64_t k = 0; k < kl; ++k) {
      const int64_t row = k0 + k, n = row / PQ;
      const T* src = dy + (n * g.K + m0) * PQ + (row - n * PQ);
      for (int64_t i = 0; i < mi; ++i) d[k * mr + i] = src[i * PQ];
      for (int64_t i = mi; i < mr; ++i) d[k * mr + i] = T(0);
    }
  });
  // Tasks own column panels of dW; each sums its columns over every row block in order.
  const int64_t ppt = std::max<int64_t>(1, std::min<int64_t>(4, ceil_div(npan, 8 * kernel_threads())));
  parallel_for_dynamic(ceil_div(npan, ppt), [&](int64_t t) {
    T* bbuf = thread_scratch<T>(static_cast<size_t>(kc * nr), 0);
    for (int64_t jp = t * ppt; jp < std::min(npan, (t + 1) * ppt); ++jp) {
      const int64_t j0 = jp * nr, nj = std::min<int64_t>(nr, CRS - j0);
      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t k0 = kb * kc, kl = std::min(kc, Kd - k0);
        if (nj < nr) std::fill(bbuf, bbuf + kl * nr, T(0));
        gather_col(x, g, k0, kl, j0, nj, bbuf, nr, 1);
        const T* ablk = apack + kb * kc * mpan * mr;
        for (int64_t ip = 0; ip < mpan; ++ip)
          kr.fn(kl, ablk + ip * kl * mr, bbuf, dw + ip * mr * CRS + j0, CRS,
                static_cast<int>(std::min<int64_t>(mr, g.K - ip * mr)), static_cast<int>(nj), kb > 0,
                static_cast<const T*>(nullptr));
      }
    }
  });
}

}  // namespace

bool conv2d_batch_gemm_accepts(const Conv2dParams& p) {
  // One group and small outputs (the per-image GEMMs are P*Q wide, narrow up to ~64), when the output
  // channels pay for the im2col gathers (each im2col element is used K times). Measured here, 1 thread:
  // LeNet's 32 -> 64 5x5 layer at 4x4 outputs is ~10% faster over the three passes this way, at 8x8 its
  // backward weight is 1.4x slower; outputs of at most 4 pixels (a DCGAN 1x1 latent layer's adjoint) are
  // 7x faster at batch 64, where the per-image path is a matrix-vector product.
  const int64_t pq = p.P() * p.Q();
  return p.groups == 1 && (pq <= 4 || (pq <= 16 && p.K >= 64) || (pq <= 64 && p.K >= 128));
}

void conv2d_batch_gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                               const Conv2dParams& p) {
  FL_DISPATCH_FLOATING(x.dtype,
      forward_impl<scalar_t>(y.ptr<scalar_t>(), x.ptr<scalar_t>(), w.ptr<scalar_t>(), b.ptr<scalar_t>(), p));
}

void conv2d_batch_gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                     const Conv2dParams& p) {
  // Beyond 32 pixels per image the per-image dcol is at least 2 column panels wide, and the per-image
  // path (with its stride-1 flipped-forward form) measured faster.
  if (p.P() * p.Q() > 32) conv2d_gemm_backward_data(dx, dy, w, p);
  else FL_DISPATCH_FLOATING(dy.dtype,
      backward_data_impl<scalar_t>(dx.ptr<scalar_t>(), dy.ptr<scalar_t>(), w.ptr<scalar_t>(), geo(p)));
}

void conv2d_batch_gemm_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                       const TensorView& x, const Conv2dParams& p) {
  if (dw.defined()) {
    FL_DISPATCH_FLOATING(dy.dtype,
        backward_weight_impl<scalar_t>(dw.ptr<scalar_t>(), x.ptr<scalar_t>(), dy.ptr<scalar_t>(), geo(p)));
  }
  // The bias gradient alone is a plain reduction over dy: the GEMM path's does it.
  if (db.defined()) conv2d_gemm_backward_weight(TensorView(), db, dy, x, p);
}

}  // namespace fl::cpu
