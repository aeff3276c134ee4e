// Packed GEMM building blocks shared by the CPU convolution kernels (BLIS-style).
//
//   C[m x n] = (accumulate ? C : bias_row or 0) + Apanel^T * Bpanel
//
// A is packed in MR-row micro-panels laid out [ceil(M/mr)][kdim][mr], B in NR-column micro-panels laid
// out [ceil(N/nr)][kdim][nr], both zero-padded to whole panels. A micro-kernel multiplies one A
// micro-panel by one B micro-panel over kc steps. It sums the kc products of each element in ascending
// k from zero in a register and only then adds that sum to C (or to the bias), so an element's result
// does not depend on the tile it falls in, nor on the thread that computed it.
//
// Packing takes mr / nr at run time, so it is shared by every instruction set. The micro-kernels live
// in per-ISA translation units (gemm_portable.cpp, simd/gemm_avx2.cpp, simd/gemm_avx512.cpp) and are
// chosen at run time from fl::simd_level().
//
// The structs here are plain aggregates (no member initializers, so no inline constructors) and the
// helpers are static inline: the SIMD translation units, compiled with wider instruction sets, must
// never provide a shared out-of-line copy of anything that baseline code could link against.
#pragma once
#include <cstdint>

#include "fastlayers/runtime.h"

namespace fl::cpu {

// C[i * ldc + j] for i < m, j < n (m <= mr, n <= nr are the valid part of the tile):
//   accumulate:            C += sum_k A[k*mr + i] * B[k*nr + j]
//   !accumulate, bias:     C  = bias[i] + sum
//   !accumulate, no bias:  C  = sum
// kc may be 0 (then the sum is 0).
template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* A, const T* B, T* C, int64_t ldc, int m, int n,
                               bool accumulate, const T* bias);

// Same, reading B in place: row k of the B micro-panel is the nr values at bbase + koff[k] (no
// alignment needed; all nr are read even when n < nr). Used where the rows of B are contiguous
// windows of one array (convolution on the phase grid, see conv2d_gemm.cpp).
template <typename T>
using IndirectMicroKernelFn = void (*)(int64_t kc, const T* A, const T* bbase, const int64_t* koff, T* C,
                                       int64_t ldc, int m, int n, bool accumulate, const T* bias);

template <typename T>
struct GemmKernel {
  const char* name;
  int mr;
  int nr;
  MicroKernelFn<T> fn;
  IndirectMicroKernelFn<T> ind;  // may be null
};

// Dot-product micro-kernel (for reductions along the contiguous axis of both operands, e.g. the
// weight gradient). The reduction is given as np pieces; for i < m, j < n
//   C[i * ldc + j] (= or +=) sum_s sum_{k < len[s]} a[s][i * lda + k] * b[j][off[s] + k]
// where every len[s] is a multiple of the kernel's kalign and rows i < mr of each a[s] and the nr rows
// b[j] are all readable (their values past m / n are ignored); no alignment is required. Each
// element's sum runs over the pieces in order, in an order fixed by the kernel alone.
template <typename T>
using DotKernelFn = void (*)(int np, const T* const* a, int64_t lda, const int64_t* off, const int64_t* len,
                             const T* const* b, T* C, int64_t ldc, int m, int n, bool accumulate);

template <typename T>
struct DotKernel {
  const char* name;
  int mr, nr, kalign;
  DotKernelFn<T> fn;
};

// One run of im2col columns inside a row of a packed block: columns [dst, dst + len) of the block are
// output positions along one output row; [dst, dst + z0) and [dst + z0 + n, dst + len) fall in the
// padding, and the n columns between read the input at src, src + stride_w, ... where src is an offset
// from the channel plane of the block's first channel (it includes the image offset when a block spans
// several images). The runs of a block are listed per (r, s): run[(r * S + s) * ns + i].
struct Run {
  int64_t dst, z0, n, len, src;
};

// im2col rows [k0, k0 + kl) (row = (c, r, s), c counted from xg) of a block described by its runs:
//   dst[kk * ld + col] for col < pad_to; columns in padding or past the runs' end `width` are zero.
// pf (elements, 0 for none): the next block will read the input pf elements further on; kernels may
// prefetch it.
template <typename T>
using Im2colFn = void (*)(const T* xg, int64_t HW, int64_t RS, int64_t sw, int64_t k0, int64_t kl, const Run* run,
                          int ns, int64_t width, int64_t pad_to, int64_t ld, int64_t pf, T* dst);
// col2im of rows [i0, i0 + mi) of a block of dcol (row stride ld) whose columns are described by runs:
//   dxg[c * HW + src + u * sw] += strip[(i - i0) * ld + dst + z0 + u].
template <typename T>
using Col2imFn = void (*)(T* dxg, int64_t HW, int64_t RS, int64_t sw, int64_t i0, int64_t mi, const T* strip,
                          int64_t ld, const Run* run, int ns);

// Geometry of one depthwise plane: input H x W, output P x Q, kernel R x S, strides, paddings (may be
// negative: a crop), dilations.
struct DwGeom {
  int64_t H, W, P, Q, R, S, sh, sw, ph, pw, dh, dw;
};
// Depthwise forward of one plane, stride_w == 1 only:
//   y[p][q] (= bias +, or += when accumulate) sum_{r,s} w[r*S + s] * x[p*sh - ph + r*dh][q - pw + s*dw]
// with taps outside the input reading zero.
template <typename T>
using DwForwardFn = void (*)(const T* x, const T* w, T bias, T* y, const DwGeom& g, bool accumulate);
// Depthwise weight gradient of one plane, stride_w == 1 only: out[r*S + s] = sum_{p,q} dy[p][q] *
// x[p*sh - ph + r*dh][q - pw + s*dw], each sum in an order fixed by the kernel.
template <typename T>
using DwWeightFn = void (*)(const T* x, const T* dy, const DwGeom& g, T* out);

// col2im in gather form, stride_w == 1 only: a strip of dcol holding whole groups of S taps, rows
// [i0, i0 + mi) (row (c, r, s), c counted from dxg's first channel; i0 and mi multiples of S), over the
// block of output columns [j0, j0 + nj) of the flattened P x Q output, strip[(i - i0) * ld + col - j0],
// is added into dx (geometry g as for depthwise: H, W, P, Q, R, S, strides, pads, dilations). Each
// dx element gets, per kernel row r, the sum of its S taps (in order s = 0, 1, ...) added at once.
template <typename T>
using Col2imGatherFn = void (*)(T* dxg, const DwGeom& g, int64_t i0, int64_t mi, int64_t j0, int64_t nj,
                                const T* strip, int64_t ld);

// Copies a rows x len block: dst[i * ldd + u] = src[i * lds + u].
template <typename T>
using Copy2dFn = void (*)(const T* src, int64_t lds, T* dst, int64_t ldd, int64_t rows, int64_t len);

// The packing / dot / depthwise kernels of one instruction set (dw_* and copy2d may be null: generic
// code).
template <typename T>
struct ConvKernels {
  Im2colFn<T> im2col;
  Col2imFn<T> col2im;
  DotKernel<T> dot;
  DwForwardFn<T> dw_forward;
  DwWeightFn<T> dw_weight;
  Copy2dFn<T> copy2d;
  Col2imGatherFn<T> col2im_gather;
};

template <typename T>
ConvKernels<T> conv_kernels(SimdLevel level);

// Every micro-kernel the build has for a level (empty for a level the build lacks).
template <typename T>
int gemm_kernels(SimdLevel level, const GemmKernel<T>** out);

// The micro-kernel to use for a GEMM of M rows and N columns at the current fl::simd_level(); the
// choice depends only on the shape and the level, never on the thread count. (Today: the first entry
// of the level's table, the best on the benchmark shapes as measured on Zen 5, e.g. 8x32 for AVX-512
// float; M and N are there for shape-dependent choices.)
template <typename T>
GemmKernel<T> pick_gemm_kernel(int64_t M, int64_t N);
// Same at an explicit level.
template <typename T>
GemmKernel<T> pick_gemm_kernel(SimdLevel level, int64_t M, int64_t N);

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits a reduction of length kdim into equal blocks of at most kc_max (the split depends only on
// kdim and kc_max). Returns the block length; the last block may be shorter.
static inline int64_t split_block(int64_t kdim, int64_t kc_max) {
  if (kdim <= kc_max) return kdim;
  const int64_t nb = ceil_div(kdim, kc_max);
  return ceil_div(kdim, nb);
}

// Packs A(i, k) = a[i * rs + k * cs] for i < m, k < k_len into [ceil(m/mr)][k_len][mr], zero-padding
// the rows of the last panel.
template <typename T>
void pack_a(const T* a, int64_t rs, int64_t cs, int64_t m, int64_t k_len, int mr, T* dst);

// Packs B(k, j) = b[k * rs + j * cs] for k < k_len, j < n into [ceil(n/nr)][k_len][nr], zero-padding
// the columns of the last panel.
template <typename T>
void pack_b(const T* b, int64_t rs, int64_t cs, int64_t k_len, int64_t n, int nr, T* dst);

// Runs the micro-kernel over every tile of C[M x N] from packed A (panel i at Apack + i * a_stride)
// and packed B (panel j at Bpack + j * b_stride), each over kc steps. bias (per row, may be null)
// is used only when !accumulate.
template <typename T>
void gemm_macro(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t kc, const T* Apack, int64_t a_stride,
                const T* Bpack, int64_t b_stride, T* C, int64_t ldc, bool accumulate, const T* bias);

// Single-threaded C[M x N] (=, or += when accumulate) A * B with A(i,k) = a[i*rsa + k*csa] and
// B(k,j) = b[k*rsb + j*csb], packing as it goes (a convenience for tests and small problems).
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb,
          int64_t csb, T* c, int64_t ldc, bool accumulate);

namespace detail {
// Per-ISA tables, defined in their translation units.
ConvKernels<float> conv_kernels_portable_f32();
ConvKernels<double> conv_kernels_portable_f64();
#if defined(FL_HAVE_X86_SIMD)
DotKernel<float> dot_kernel_avx2_f32();
DotKernel<double> dot_kernel_avx2_f64();
ConvKernels<float> conv_kernels_avx512_f32();
ConvKernels<double> conv_kernels_avx512_f64();
#endif
int gemm_kernels_portable_f32(const GemmKernel<float>** out);
int gemm_kernels_portable_f64(const GemmKernel<double>** out);
#if defined(FL_HAVE_X86_SIMD)
int gemm_kernels_avx2_f32(const GemmKernel<float>** out);
int gemm_kernels_avx2_f64(const GemmKernel<double>** out);
int gemm_kernels_avx512_f32(const GemmKernel<float>** out);
int gemm_kernels_avx512_f64(const GemmKernel<double>** out);
#endif
}  // namespace detail

}  // namespace fl::cpu
