// Transposed 2-D convolution as one GEMM over the whole batch (groups == 1), for small inputs with many
// channels (e.g. DCGAN's 4x4 -> 8x8 layers), where the adjoint-convolution mapping of
// csrc/ops/conv_transpose2d.cpp gives GEMMs only H*W columns wide. Gradients are written (=).
//
// Rows are the input pixels of the batch, i = (n, h, w); columns are the weight's j = (k, r, s):
//   forward          col [NHW x KRS] = X [NHW x C] * W [C x KRS], then scattered (col2im) into y
//   backward data    dX  [NHW x C]   = col(dy) [NHW x KRS] * W^T, col(dy) gathered from dy (im2col)
//   backward weight  dW  [C x KRS]   = X^T * col(dy), a reduction over all NHW rows
// Panels are packed straight from the NCHW arrays; nothing of col is materialized beyond one tile.
// Determinism: every GEMM element is summed over fixed kc blocks in ascending order (cpu/gemm.h); a task
// owns whole images (forward, backward data) or whole columns of dW (backward weight), and each y
// element is accumulated in a fixed (h, w, r, s) order by one task, so results do not depend on the
// thread count.
#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

constexpr int64_t kKc = 256;            // reduction block of the micro-kernels
// Rows (input pixels) per task, rounded to whole images: each packed B micro-panel (L1) is reused for
// kTileRows / mr micro-kernel calls, which keeps the stream of packed weights from L3 cheap.
constexpr int64_t kTileRows = 128;

struct Geo {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, dh, dw;
  int64_t HW() const { return H * W; }
  int64_t RS() const { return R * S; }
  int64_t KRS() const { return K * R * S; }
};

Geo geo(const ConvTranspose2dParams& p) {
  return Geo{p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P(), p.Q(), p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h,
             p.dil_w};
}

int64_t images_per_task(const Geo& g) { return std::max<int64_t>(1, kTileRows / g.HW()); }

// A(i, k) = x[n, k0 + k, h, w] for the mi rows i0 .. i0 + mi - 1 (i = n HW + h W + w), one panel.
template <typename T>
void pack_x_rows(const T* x, const Geo& g, int64_t i0, int mi, int64_t k0, int64_t kl, int mr, T* d) {
  const int64_t HW = g.HW();
  int64_t base[64];
  for (int i = 0; i < mi; ++i) {
    const int64_t r = i0 + i, n = r / HW;
    base[i] = n * g.C * HW + k0 * HW + (r - n * HW);
  }
  for (int64_t k = 0; k < kl; ++k) {
    T* dk = d + k * mr;
    for (int i = 0; i < mi; ++i) dk[i] = x[base[i] + k * HW];
    for (int i = mi; i < mr; ++i) dk[i] = T(0);
  }
}

// col(dy)(i, j) for input pixel i = (n, h, w) and column j = (k, r, s): dy[n, k, h sh - ph + r dh,
// w sw - pw + s dw], zero outside. Fills d[kk * ld_k + ii * ld_i] for rows i0 .. i0 + mi - 1 (ii < mi,
// mi <= kMaxRows) and columns j0 .. j0 + nj - 1 (kk < nj). Columns outer, rows inner: each row's
// window origin is computed once, and a column adds one offset to it.
constexpr int64_t kMaxRows = 256;
template <typename T>
void gather_col(const T* dy, const Geo& g, int64_t i0, int64_t mi, int64_t j0, int64_t nj, T* d, int64_t ld_i,
                int64_t ld_k) {
  const int64_t HW = g.HW(), RS = g.RS(), PQ = g.P * g.Q;
  int64_t p0[kMaxRows], q0[kMaxRows], base[kMaxRows];
  for (int64_t ii = 0; ii < mi; ++ii) {
    const int64_t row = i0 + ii, n = row / HW, h = (row % HW) / g.W, w = row % g.W;
    p0[ii] = h * g.sh - g.ph;
    q0[ii] = w * g.sw - g.pw;
    base[ii] = n * g.K * PQ + p0[ii] * g.Q + q0[ii];
  }
  int64_t k = j0 / RS, r = (j0 % RS) / g.S, s = j0 % g.S;
  for (int64_t jj = 0; jj < nj; ++jj) {
    const int64_t dp = r * g.dh, dq = s * g.dw, off = k * PQ + dp * g.Q + dq;
    T* dj = d + jj * ld_k;
    for (int64_t ii = 0; ii < mi; ++ii) {
      const bool in = static_cast<uint64_t>(p0[ii] + dp) < static_cast<uint64_t>(g.P) &&
                      static_cast<uint64_t>(q0[ii] + dq) < static_cast<uint64_t>(g.Q);
      dj[ii * ld_i] = in ? dy[base[ii] + off] : T(0);
    }
    if (++s == g.S) {
      s = 0;
      if (++r == g.R) r = 0, ++k;
    }
  }
}

// ---- forward ----
template <typename T>
void forward_impl(T* y, const T* x, const T* w, const T* bias, const Geo& g) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(kTileRows, g.KRS());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t HW = g.HW(), RS = g.RS(), KRS = g.KRS(), PQ = g.P * g.Q, Kd = g.C;
  const int64_t kc = split_block(Kd, kKc), nkb = ceil_div(Kd, kc), npan = ceil_div(KRS, nr);
  // W packed once: block kb, panel jp at bpack + kb * kc * npan * nr + jp * kl * nr.
  T* bpack = thread_scratch<T>(static_cast<size_t>(Kd * npan * nr), kSharedSlot);
  parallel_for(nkb * npan, [&](int64_t t) {
    const int64_t kb = t / npan, jp = t % npan, k0 = kb * kc, kl = std::min(kc, Kd - k0), j0 = jp * nr;
    pack_b(w + k0 * KRS + j0, KRS, 1, kl, std::min<int64_t>(nr, KRS - j0), nr,
           bpack + kb * kc * npan * nr + jp * kl * nr);
  });
  // A task: whole images, every column (the C tile need not stay in cache: each micro-kernel call
  // reads and writes its 8 x 32 block once per kc steps).
  const int64_t ipt = images_per_task(g);
  parallel_for_dynamic(ceil_div(g.N, ipt), [&](int64_t t) {
    const int64_t n0 = t * ipt, n1 = std::min(g.N, n0 + ipt), c0 = 0, c1 = g.K;
    const int64_t rows = (n1 - n0) * HW, jp0 = 0, jp1 = npan;
    const int64_t ld = npan * nr, mpan = ceil_div(rows, mr);
    T* tile = thread_scratch<T>(static_cast<size_t>(mpan * mr * ld), 0);
    T* apack = thread_scratch<T>(static_cast<size_t>(mpan * mr * kc), 1);
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * kc, kl = std::min(kc, Kd - k0);
      for (int64_t ip = 0; ip < mpan; ++ip)
        pack_x_rows(x, g, n0 * HW + ip * mr, static_cast<int>(std::min<int64_t>(mr, rows - ip * mr)), k0, kl, mr,
                    apack + ip * kl * mr);
      const T* bblk = bpack + kb * kc * npan * nr;
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const int nj = static_cast<int>(std::min<int64_t>(nr, KRS - jp * nr));
        for (int64_t ip = 0; ip < mpan; ++ip)
          kr.fn(kl, apack + ip * kl * mr, bblk + jp * kl * nr, tile + ip * mr * ld + (jp - jp0) * nr, ld,
                static_cast<int>(std::min<int64_t>(mr, rows - ip * mr)), nj, kb > 0, static_cast<const T*>(nullptr));
      }
    }
    // col2im: y[n, k, h sh - ph + r dh, w sw - pw + s dw] += tile[(n, h, w), (k, r, s)], in (h, w, r, s) order.
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t k = c0; k < c1; ++k) {
        T* yk = y + (n * g.K + k) * PQ;
        const T b0 = bias ? bias[k] : T(0);
        for (int64_t i = 0; i < PQ; ++i) yk[i] = b0;
        const T* tk = tile + (n - n0) * HW * ld + (k * RS - jp0 * nr);
        for (int64_t h = 0; h < g.H; ++h)
          for (int64_t r = 0; r < g.R; ++r) {
            const int64_t pp = h * g.sh - g.ph + r * g.dh;
            if (pp < 0 || pp >= g.P) continue;
            T* yrow = yk + pp * g.Q;
            for (int64_t ww = 0; ww < g.W; ++ww) {
              const T* src = tk + (h * g.W + ww) * ld + r * g.S;
              const int64_t q0 = ww * g.sw - g.pw;
              for (int64_t s = 0; s < g.S; ++s) {
                const int64_t qq = q0 + s * g.dw;
                if (qq >= 0 && qq < g.Q) yrow[qq] += src[s];
              }
            }
          }
      }
  });
}

// ---- backward data: dX[(n,h,w), c] = sum_j col(dy)[(n,h,w), j] W[c, j] ----
template <typename T>
void backward_data_impl(T* dx, const T* dy, const T* w, const Geo& g) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(kTileRows, g.C);
  const int mr = kr.mr, nr = kr.nr;
  const int64_t HW = g.HW(), KRS = g.KRS(), Kd = KRS;
  const int64_t kc = split_block(Kd, kKc), nkb = ceil_div(Kd, kc), npan = ceil_div(g.C, nr);
  // W^T packed once: B(k = j, col = c) = w[c KRS + j].
  T* bpack = thread_scratch<T>(static_cast<size_t>(Kd * npan * nr), kSharedSlot);
  parallel_for(nkb * npan, [&](int64_t t) {
    const int64_t kb = t / npan, jp = t % npan, k0 = kb * kc, kl = std::min(kc, Kd - k0), c0 = jp * nr;
    pack_b(w + c0 * KRS + k0, 1, KRS, kl, std::min<int64_t>(nr, g.C - c0), nr,
           bpack + kb * kc * npan * nr + jp * kl * nr);
  });
  const int64_t ipt = images_per_task(g), nimg = ceil_div(g.N, ipt);
  parallel_for_dynamic(nimg, [&](int64_t t) {
    const int64_t n0 = t * ipt, n1 = std::min(g.N, n0 + ipt), rows = (n1 - n0) * HW;
    const int64_t mpan = ceil_div(rows, mr), ld = npan * nr;
    T* tile = thread_scratch<T>(static_cast<size_t>(mpan * mr * ld), 0);
    T* apack = thread_scratch<T>(static_cast<size_t>(mpan * mr * kc), 1);
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * kc, kl = std::min(kc, Kd - k0);
      for (int64_t ip = 0; ip < mpan; ++ip) {
        const int64_t mi = std::min<int64_t>(mr, rows - ip * mr);
        T* d = apack + ip * kl * mr;
        if (mi < mr) std::fill(d, d + kl * mr, T(0));
        gather_col(dy, g, n0 * HW + ip * mr, mi, k0, kl, d, 1, mr);
      }
      const T* bblk = bpack + kb * kc * npan * nr;
      for (int64_t jp = 0; jp < npan; ++jp) {
        const int nj = static_cast<int>(std::min<int64_t>(nr, g.C - jp * nr));
        for (int64_t ip = 0; ip < mpan; ++ip)
          kr.fn(kl, apack + ip * kl * mr, bblk + jp * kl * nr, tile + ip * mr * ld + jp * nr, ld,
                static_cast<int>(std::min<int64_t>(mr, rows - ip * mr)), nj, kb > 0, static_cast<const T*>(nullptr));
      }
    }
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < g.C; ++c) {
        T* dxc = dx + (n * g.C + c) * HW;
        const T* src = tile + (n - n0) * HW * ld + c;
        for (int64_t i = 0; i < HW; ++i) dxc[i] = src[i * ld];
      }
  });
}

// ---- backward weight: dW[c, j] = sum over rows (n,h,w) of x[n, c, h, w] col(dy)[(n,h,w), j] ----
template <typename T>
void backward_weight_impl(T* dw, const T* x, const T* dy, const Geo& g) {
  const GemmKernel<T> kr = pick_gemm_kernel<T>(g.C, g.KRS());
  const int mr = kr.mr, nr = kr.nr;
  const int64_t HW = g.HW(), KRS = g.KRS(), Kd = g.N * HW;
  const int64_t kc = split_block(Kd, kKc), nkb = ceil_div(Kd, kc), mpan = ceil_div(g.C, mr);
  const int64_t npan = ceil_div(KRS, nr);
  // X^T packed once: A(i = c, k = row) = x[n, c, h, w]; block kb, panel ip at apack + kb kc mpan mr + ip kl mr.
  T* apack = thread_scratch<T>(static_cast<size_t>(Kd * mpan * mr), kSharedSlot);
  parallel_for(nkb * mpan, [&](int64_t t) {
    const int64_t kb = t / mpan, ip = t % mpan, k0 = kb * kc, kl = std::min(kc, Kd - k0), c0 = ip * mr;
    const int64_t mi = std::min<int64_t>(mr, g.C - c0);
    T* d = apack + kb * kc * mpan * mr + ip * kl * mr;
    for (int64_t k = 0; k < kl; ++k) {
      const int64_t row = k0 + k, n = row / HW;
      const T* src = x + (n * g.C + c0) * HW + (row - n * HW);
      for (int64_t i = 0; i < mi; ++i) d[k * mr + i] = src[i * HW];
      for (int64_t i = mi; i < mr; ++i) d[k * mr + i] = T(0);
    }
  });
  // Tasks own column panels of dW; each sums its columns over every row block in order.
  const int64_t ppt = std::max<int64_t>(1, std::min<int64_t>(4, ceil_div(npan, 8 * kernel_threads())));
  parallel_for_dynamic(ceil_div(npan, ppt), [&](int64_t t) {
    T* bbuf = thread_scratch<T>(static_cast<size_t>(kc * nr), 0);
    for (int64_t jp = t * ppt; jp < std::min(npan, (t + 1) * ppt); ++jp) {
      const int64_t j0 = jp * nr, nj = std::min<int64_t>(nr, KRS - j0);
      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t k0 = kb * kc, kl = std::min(kc, Kd - k0);
        if (nj < nr) std::fill(bbuf, bbuf + kl * nr, T(0));
        gather_col(dy, g, k0, kl, j0, nj, bbuf, nr, 1);
        const T* ablk = apack + kb * kc * mpan * mr;
        for (int64_t ip = 0; ip < mpan; ++ip)
          kr.fn(kl, ablk + ip * kl * mr, bbuf, dw + ip * mr * KRS + j0, KRS,
                static_cast<int>(std::min<int64_t>(mr, g.C - ip * mr)), static_cast<int>(nj), kb > 0,
                static_cast<const T*>(nullptr));
      }
    }
  });
}

}  // namespace

bool conv_transpose2d_gemm_accepts(const ConvTranspose2dParams& p) {
  // One group and small inputs (the adjoint convolution's GEMMs are H*W wide: narrow up to ~64; at 256
  // pixels the adjoint mapping measured faster on DCGAN's g3). Any batch: a 1x1 latent at batch 1-64
  // measured 1.5-6x faster here than through the adjoint convolution.
  return p.groups == 1 && p.H * p.W <= 64 && p.extra_h() == 0 && p.extra_w() == 0;
}

void conv_transpose2d_gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w,
                                   const TensorView& b, const ConvTranspose2dParams& p) {
  if (x.dtype == DType::Float32) forward_impl<float>(y.ptr<float>(), x.ptr<float>(), w.ptr<float>(), b.ptr<float>(), geo(p));
  else forward_impl<double>(y.ptr<double>(), x.ptr<double>(), w.ptr<double>(), b.ptr<double>(), geo(p));
}

void conv_transpose2d_gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                         const ConvTranspose2dParams& p) {
  if (dy.dtype == DType::Float32) backward_data_impl<float>(dx.ptr<float>(), dy.ptr<float>(), w.ptr<float>(), geo(p));
  else backward_data_impl<double>(dx.ptr<double>(), dy.ptr<double>(), w.ptr<double>(), geo(p));
}

void conv_transpose2d_gemm_backward_weight(const TensorView& dw, const TensorView& dy, const TensorView& x,
                                           const ConvTranspose2dParams& p) {
  if (dy.dtype == DType::Float32)
    backward_weight_impl<float>(dw.ptr<float>(), x.ptr<float>(), dy.ptr<float>(), geo(p));
  else backward_weight_impl<double>(dw.ptr<double>(), x.ptr<double>(), dy.ptr<double>(), geo(p));
}

}  // namespace fl::cpu
