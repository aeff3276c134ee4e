// Fully connected layer on the GEMM building blocks of cpu/gemm.h. Gradients are WRITTEN (=).
//
//   forward          y  [M x N] = x [M x K] * w^T + b
//   backward data    dx [M x K] = dy [M x N] * w [N x K]
//   backward weight  dw [N x K] = dy^T * x,   db [N] = column sums of dy
//
// Below 128 rows the forward runs the dot-product micro-kernels on rows of x against rows of w, both
// read in place: nothing is packed, which matters at small M, where packing w would cost as much as the
// product. From 128 rows on, or where K is too short for them, it runs a packed GEMM. The backward passes are packed GEMMs whose B
// operand (w, resp. x) has contiguous rows, read in place by the indirect micro-kernels where the
// level has them (a last partial column panel, which would read past the array, is packed).
//
// Threads: tasks own tiles of the output. Every element is summed over the reduction in an order fixed
// by the shape and the SIMD level alone (the micro-kernel's, reduction block after reduction block),
// so results are bitwise independent of the thread count. db sums the rows in ascending order.
#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

constexpr int64_t kKcMax = 256;  // reduction block of the packed GEMM (fixed: results never depend on threads)
constexpr int64_t kDotMinK = 16;  // the widest dot micro-kernel steps 16 elements at a time
// From this many rows on, packing w once (N*K copies) costs less than what the packed micro-kernels gain
// over the dot-product ones (measured on Zen 5, one thread: dot ahead by 10% at M = 64, GEMM ahead by
// 10-25% from M = 256 on; at two threads the two are within 10% of each other at M = 256).
constexpr int64_t kDotMaxM = 128;
// Below this many multiply-adds a task is not worth waking a thread for.
constexpr int64_t kMinTaskMacs = int64_t(1) << 16;

// Tasks to cut `units` independent pieces of work (macs in all) into: a few per thread, none too small.
int64_t task_count(int64_t units, int64_t macs) {
  const int64_t threads = kernel_threads();
  int64_t t = std::min<int64_t>(units, 4 * threads);
  t = std::min<int64_t>(t, macs / kMinTaskMacs);
  return std::max<int64_t>(t, 1);
}

// Runs f(t) for t < n, on the kernel threads when `parallel`, else on the calling thread.
template <typename F>
void run_tasks(int64_t n, bool parallel, F&& f) {
  if (parallel) parallel_for(n, f);
  else
    for (int64_t t = 0; t < n; ++t) f(t);
}

// A grid of tasks over row panels x column panels: nb column blocks (outer), mb row blocks.
struct TileSplit {
  int64_t mpan, npan, mb, nb;
  TileSplit(int64_t mpan_, int64_t npan_, int64_t tasks) : mpan(mpan_), npan(npan_) {
    nb = std::min(npan, tasks);
    mb = std::min(mpan, ceil_div(tasks, nb));
  }
  int64_t count() const { return mb * nb; }
  // Panels [i0, i1) x [j0, j1) of task t.
  void panels(int64_t t, int64_t& i0, int64_t& i1, int64_t& j0, int64_t& j1) const {
    const int64_t bi = t % mb, bj = t / mb;
    i0 = bi * mpan / mb;
    i1 = (bi + 1) * mpan / mb;
    j0 = bj * npan / nb;
    j1 = (bj + 1) * npan / nb;
  }
};

// Fills rows [i0, i1) x columns [j0, j1) of C with bias[j] (or zero).
template <typename T>
void fill_bias(T* C, int64_t ldc, int64_t i0, int64_t i1, int64_t j0, int64_t j1, const T* bias) {
  for (int64_t i = i0; i < i1; ++i) {
    T* c = C + i * ldc;
    if (bias) std::copy(bias + j0, bias + j1, c + j0);
    else std::fill(c + j0, c + j1, T(0));
  }
}

// ---------------------------------------------------------------------------------------------------
// Forward by dot-product micro-kernels: tile (m panel, n panel) = rows of x . rows of w over
// K0 = K rounded down to the kernel's step, then a scalar tail over [K0, K), then the bias.

template <typename T>
void dot_forward(T* y, const T* x, const T* w, const T* bias, const LinearParams& p) {
  const DotKernel<T> dk = conv_kernels<T>(simd_level()).dot;
  const int mr = dk.mr, nr = dk.nr;
  const int64_t M = p.M, K = p.K, N = p.N;
  const int64_t K0 = K / dk.kalign * dk.kalign;
  const int64_t mpan = ceil_div(M, mr), npan = ceil_div(N, nr);
  // The kernel reads mr rows of x: the rows of a last partial panel go to a zero-padded copy.
  const int64_t m_full = M / mr * mr;
  T* xtail = nullptr;
  if (m_full < M) {
    xtail = thread_scratch<T>(static_cast<size_t>(mr * K), kSharedSlot);
    std::memcpy(xtail, x + m_full * K, sizeof(T) * (M - m_full) * K);
    std::fill(xtail + (M - m_full) * K, xtail + mr * K, T(0));
  }
  const TileSplit split(mpan, npan, task_count(mpan * npan, p.macs()));
  run_tasks(split.count(), split.count() > 1, [&](int64_t t) {
    int64_t ip0, ip1, jp0, jp1;
    split.panels(t, ip0, ip1, jp0, jp1);
    const T* bp[16];
    const int64_t off[1] = {0}, len[1] = {K0};
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t n0 = jp * nr;
      const int nj = static_cast<int>(std::min<int64_t>(nr, N - n0));
      for (int j = 0; j < nr; ++j) bp[j] = w + std::min<int64_t>(n0 + j, N - 1) * K;  // rows past N: ignored
      for (int64_t ip = ip0; ip < ip1; ++ip) {
        const int64_t m0 = ip * mr;
        const int mi = static_cast<int>(std::min<int64_t>(mr, M - m0));
        const T* ap[1] = {m0 < m_full ? x + m0 * K : xtail};
        T* c = y + m0 * N + n0;
        dk.fn(1, ap, K, off, len, bp, c, N, mi, nj, false);
        if (K0 == K && !bias) continue;
        for (int i = 0; i < mi; ++i)
          for (int j = 0; j < nj; ++j) {
            const T* xr = x + (m0 + i) * K;
            const T* wr = bp[j];
            T s = c[i * N + j];
            for (int64_t k = K0; k < K; ++k) s += xr[k] * wr[k];
            c[i * N + j] = bias ? s + bias[n0 + j] : s;
          }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Packed GEMM: C[M x N] (row stride ldc) = bias[j] (when given) + sum_k A(i, k) B(k, j).

// The level's default micro-kernel, or for fewer rows than its mr the one whose tiles pad M the least
// (at M = 1 an 8-row tile spends 7/8 of its work on padding), keeping in-place reads where the default
// has them. Depends on the shape and the level alone, never on the thread count.
template <typename T>
GemmKernel<T> pick_kernel(int64_t M, int64_t N) {
  GemmKernel<T> best = pick_gemm_kernel<T>(M, N);
  if (M >= best.mr) return best;
  const bool need_ind = best.ind != nullptr;
  const GemmKernel<T>* ks = nullptr;
  const int n = gemm_kernels<T>(simd_level(), &ks);
  for (int i = 0; i < n; ++i)
    if ((ks[i].ind != nullptr || !need_ind) && round_up(M, ks[i].mr) < round_up(M, best.mr)) best = ks[i];
  return best;
}

template <typename T>
struct Mat {
  const T* p;
  int64_t rs, cs;  // element (i, k) at p[i * rs + k * cs]
};

template <typename T>
void gemm_tiles(int64_t M, int64_t N, int64_t K, Mat<T> A, Mat<T> B, T* C, int64_t ldc, const T* bias) {
  if (M <= 0 || N <= 0) return;
  const GemmKernel<T> kr = pick_kernel<T>(M, N);
  const int mr = kr.mr, nr = kr.nr;
  const int64_t mpan = ceil_div(M, mr), npan = ceil_div(N, nr), Mp = mpan * mr, Np = npan * nr;
  const int64_t kc = split_block(K, kKcMax), nkb = K > 0 ? ceil_div(K, kc) : 0;
  const bool in_place = kr.ind != nullptr && B.cs == 1;
  const bool parallel = task_count(2, M * N * K) > 1;

  // A packed whole, reduction block after reduction block: block kb panel ip at apack + k0*Mp + ip*kl*mr.
  T* apack = thread_scratch<T>(static_cast<size_t>(std::max<int64_t>(Mp * K, 1)), kSharedSlot);
  run_tasks(nkb * mpan, parallel, [&](int64_t t) {
    const int64_t k0 = (t / mpan) * kc, kl = std::min(kc, K - k0), ip = t % mpan;
    const int64_t i0 = ip * mr;
    pack_a(A.p + i0 * A.rs + k0 * A.cs, A.rs, A.cs, std::min<int64_t>(mr, M - i0), kl, mr,
           apack + k0 * Mp + ip * kl * mr);
  });
  // B read in place (row k of a panel: nr values at B.p + k*rs + j0), or packed whole like A.
  T* bpack = nullptr;
  int64_t* koff = nullptr;
  if (in_place) {
    koff = thread_scratch<int64_t>(static_cast<size_t>(std::max<int64_t>(K, 1)), kSharedSlot - 1);
    for (int64_t k = 0; k < K; ++k) koff[k] = k * B.rs;
  } else {
    bpack = thread_scratch<T>(static_cast<size_t>(std::max<int64_t>(Np * K, 1)), kSharedSlot - 1);
    run_tasks(nkb * npan, parallel, [&](int64_t t) {
      const int64_t k0 = (t / npan) * kc, kl = std::min(kc, K - k0), jp = t % npan;
      const int64_t j0 = jp * nr;
      pack_b(B.p + k0 * B.rs + j0 * B.cs, B.rs, B.cs, kl, std::min<int64_t>(nr, N - j0), nr,
             bpack + k0 * Np + jp * kl * nr);
    });
  }

  const TileSplit split(mpan, npan, task_count(mpan * npan, M * N * K));
  run_tasks(split.count(), split.count() > 1, [&](int64_t t) {
    int64_t ip0, ip1, jp0, jp1;
    split.panels(t, ip0, ip1, jp0, jp1);
    if (bias || K == 0)
      fill_bias(C, ldc, ip0 * mr, std::min(M, ip1 * mr), jp0 * nr, std::min(N, jp1 * nr), bias);
    T* tail = in_place ? thread_scratch<T>(static_cast<size_t>(kc * nr), 0) : nullptr;
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * kc, kl = std::min(kc, K - k0);
      const bool accumulate = bias || kb > 0;
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const int64_t j0 = jp * nr;
        const int nj = static_cast<int>(std::min<int64_t>(nr, N - j0));
        const T* bpanel = bpack ? bpack + k0 * Np + jp * kl * nr : nullptr;
        if (in_place && nj < nr) {  // the last partial panel: packed, so nothing past B is read
          pack_b(B.p + k0 * B.rs + j0, B.rs, int64_t(1), kl, nj, nr, tail);
          bpanel = tail;
        }
        for (int64_t ip = ip0; ip < ip1; ++ip) {
          const int64_t i0 = ip * mr;
          const int mi = static_cast<int>(std::min<int64_t>(mr, M - i0));
          const T* apanel = apack + k0 * Mp + ip * kl * mr;
          T* c = C + i0 * ldc + j0;
          if (bpanel) kr.fn(kl, apanel, bpanel, c, ldc, mi, nj, accumulate, nullptr);
          else kr.ind(kl, apanel, B.p + j0, koff + k0, c, ldc, mi, nj, accumulate, nullptr);
        }
      }
    }
  });
}

// db[n] = sum over rows of dy, ascending, in blocks of columns.
template <typename T>
void column_sums(T* db, const T* dy, int64_t M, int64_t N) {
  const int64_t nblk = std::min<int64_t>(ceil_div(N, 64), task_count(N, M * N / 4));
  run_tasks(nblk, nblk > 1, [&](int64_t t) {
    const int64_t j0 = t * N / nblk, j1 = (t + 1) * N / nblk;
    std::fill(db + j0, db + j1, T(0));
    for (int64_t m = 0; m < M; ++m) {
      const T* r = dy + m * N;
      for (int64_t j = j0; j < j1; ++j) db[j] += r[j];
    }
  });
}

template <typename T>
void gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                  const LinearParams& p) {
  gemm_tiles<T>(p.M, p.N, p.K, {x.ptr<T>(), p.K, 1}, {w.ptr<T>(), 1, p.K}, y.ptr<T>(), p.N, b.ptr<T>());
}

template <typename T>
void gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const LinearParams& p) {
  gemm_tiles<T>(p.M, p.K, p.N, {dy.ptr<T>(), p.N, 1}, {w.ptr<T>(), p.K, 1}, dx.ptr<T>(), p.K, nullptr);
}

template <typename T>
void gemm_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                          const LinearParams& p) {
  if (dw.defined())
    gemm_tiles<T>(p.N, p.K, p.M, {dy.ptr<T>(), 1, p.N}, {x.ptr<T>(), p.K, 1}, dw.ptr<T>(), p.K, nullptr);
  if (db.defined()) column_sums(db.ptr<T>(), dy.ptr<T>(), p.M, p.N);
}

}  // namespace

bool linear_dot_accepts(const LinearParams& p) { return p.K >= kDotMinK && p.M < kDotMaxM; }

void linear_dot_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                        const LinearParams& p) {
  FL_DISPATCH_FLOATING(x.dtype,
      dot_forward<scalar_t>(y.ptr<scalar_t>(), x.ptr<scalar_t>(), w.ptr<scalar_t>(), b.ptr<scalar_t>(), p));
}

FL_WEIGHT_OP_ENTRY_POINTS(LinearParams, linear_gemm, gemm_forward, gemm_backward_data, gemm_backward_weight)

}  // namespace fl::cpu
