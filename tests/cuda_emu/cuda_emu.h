// Host emulation of the CUDA execution model, so the kernels in cuda/ run on the CPU inside a C++ test
// (tests/cuda_emu/test_cuda_emu.cpp). tests/cuda_emu/translate_cu.py rewrites each launch
// `K<<<grid, block, ...>>>(args)` into `::fl_emu::launch(grid, block, [&] { K(args); })` and renames fl::cuda to
// fl::cuda_emu; this header is force-included (-include) first in every translated file.
//
// Model: the blocks of a launch run one after another; the threads of a block are fibers (a small x86-64
// context switch, ucontext elsewhere) on stacks allocated once and reused; __syncthreads() yields until
// every live thread of the block has arrived (exited threads count as arrived). fl_emu::set_reverse(true)
// runs the blocks and the threads of each block in reverse order, so a missing barrier or an inter-block
// dependency changes the result between the two orders. __shared__ is `static` (one copy per kernel = one
// per block, since blocks do not overlap). Atomics are plain read-modify-writes. WMMA fragment operations
// run in the first lane of each warp, which holds the whole 16x16 tile. Device memory is host memory of
// exactly the requested size (AddressSanitizer, when on, catches out-of-bounds accesses). A launch with an
// invalid configuration (an empty grid, a block over 1024 threads, grid y/z over 65535) sets the sticky
// error that the next cudaGetLastError() returns, as the runtime does.
//
// LIMITS: this proves index math, bounds, reduction order, barrier placement (partly: only when the two
// thread orders give different results) and results. It does not prove warp-level timing assumptions
// (lanes of a warp here do not run in lock step), memory coalescing, shared-memory bank behaviour,
// occupancy, register or shared-memory limits, performance, nor that nvcc compiles the device code (CI
// compiles the .cu files separately). Uninitialized shared memory reads as zero or as the previous block's
// values, not as garbage. Device math is the host libm's, not CUDA's (results differ in the last bits).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>

// ---- execution model ----
namespace fl_emu {
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

// Runs body once per CUDA thread of every block of the grid (see the top of this file).
void launch_impl(dim3 grid, dim3 block, const std::function<void()>& body);
template <typename F>
void launch(dim3 grid, dim3 block, F&& body) {
  launch_impl(grid, block, std::function<void()>(std::forward<F>(body)));
}
void syncthreads();
// Reverse block and thread order from now on (false: forward).
void set_reverse(bool reverse);
// Launches so far (for the test's summary) and launches rejected for their configuration.
int64_t launch_count();

// The runtime API the kernels' host code calls, on host memory.
cudaError_t get_last_error();
cudaError_t peek_at_last_error();
const char* get_error_name(cudaError_t e);
const char* get_error_string(cudaError_t e);
cudaError_t get_device(int* d);
cudaError_t set_device(int d);
cudaError_t get_device_count(int* n);
cudaError_t malloc_bytes(void** p, size_t bytes);
cudaError_t free_bytes(void* p);
template <typename T> cudaError_t malloc_async(T** p, size_t bytes, cudaStream_t = nullptr) {
  void* v = nullptr;
  const cudaError_t e = malloc_bytes(&v, bytes);
  *p = static_cast<T*>(v);
  return e;
}
template <typename T> cudaError_t malloc_sync(T** p, size_t bytes) { return malloc_async(p, bytes); }
inline cudaError_t free_async(void* p, cudaStream_t = nullptr) { return free_bytes(p); }
inline cudaError_t memcpy_async(void* dst, const void* src, size_t n, cudaMemcpyKind = cudaMemcpyDefault,
                                cudaStream_t = nullptr) {
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t memset_async(void* dst, int v, size_t n, cudaStream_t = nullptr) {
  if (n) std::memset(dst, v, n);
  return cudaSuccess;
}
template <typename T>
cudaError_t memcpy_to_symbol(T& symbol, const void* src, size_t n, size_t offset = 0,
                             cudaMemcpyKind = cudaMemcpyHostToDevice, cudaStream_t = nullptr) {
  std::memcpy(reinterpret_cast<char*>(&symbol) + offset, src, n);
  return cudaSuccess;
}
template <typename T>
cudaError_t memcpy_from_symbol(void* dst, const T& symbol, size_t n, size_t offset = 0,
                               cudaMemcpyKind = cudaMemcpyDeviceToHost, cudaStream_t = nullptr) {
  std::memcpy(dst, reinterpret_cast<const char*>(&symbol) + offset, n);
  return cudaSuccess;
}
inline cudaError_t no_op(...) { return cudaSuccess; }
// A fault inside a kernel (e.g. a misaligned WMMA pointer): printed, and the launch's error as on a device.
void fault(cudaError_t e, const char* what);

template <typename T> T atomic_cas(T* a, T expect, T v) {
  const T old = *a;
  if (old == expect) *a = v;
  return old;
}
template <typename T> T atomic_add(T* a, T v) {
  const T old = *a;
  *a = old + v;
  return old;
}
template <typename T> T atomic_max(T* a, T v) {
  const T old = *a;
  if (v > old) *a = v;
  return old;
}
template <typename T> T atomic_min(T* a, T v) {
  const T old = *a;
  if (v < old) *a = v;
  return old;
}
template <typename T> T atomic_exch(T* a, T v) {
  const T old = *a;
  *a = v;
  return old;
}
}  // namespace fl_emu

// ---- WMMA: the first lane of each warp holds (and computes) the whole tile ----
namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = rows * cols;
  T x[num_elements];
  bool col = std::is_same<Layout, col_major>::value;
};

// The fragment operations are warp-wide: only the first lane of each warp does them (on real hardware each
// lane holds a share; here the leader holds everything), so the emulation is not 32 times slower than needed.
// Code that reads fragment elements per lane is therefore not supported.
// The documented requirements: a 256-bit aligned pointer, ldm a multiple of 16 bytes.
// A faulting operation does nothing (a device would stop the kernel).
template <typename P> bool wmma_ptr_ok(const P* p, unsigned ld) {
  if (reinterpret_cast<uintptr_t>(p) % 32 == 0 && (ld * sizeof(P)) % 16 == 0) return true;
  ::fl_emu::fault(cudaErrorMisalignedAddress,
                  "WMMA load/store: pointer not 32-byte aligned or ldm not a multiple of 16 bytes");
  return false;
}
inline bool warp_leader() {
  const uint3 t = ::fl_emu::thread_idx;
  const dim3 b = ::fl_emu::block_dim;
  return (t.x + b.x * (t.y + b.y * t.z)) % 32 == 0;
}
template <typename Use, int M, int N, int K, typename T, typename L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, typename std::common_type<T>::type v) {
  if (!warp_leader()) return;
  for (auto& e : f.x) e = v;
}
template <typename Use, int M, int N, int K, typename T, typename L, typename P>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ld) {
  using F = fragment<Use, M, N, K, T, L>;
  if (!wmma_ptr_ok(p, ld) || !warp_leader()) return;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = f.col ? p[c * ld + r] : p[r * ld + c];
}
template <int M, int N, int K, typename T>
void load_matrix_sync(fragment<accumulator, M, N, K, T, void>& f, const T* p, unsigned ld, layout_t l) {
  if (!wmma_ptr_ok(p, ld) || !warp_leader()) return;
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = l == mem_row_major ? p[r * ld + c] : p[c * ld + r];
}
template <int M, int N, int K, typename T>
void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T, void>& f, unsigned ld, layout_t l) {
  if (!wmma_ptr_ok(p, ld) || !warp_leader()) return;
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (l == mem_row_major ? p[r * ld + c] : p[c * ld + r]) = f.x[r * N + c];
}
// d = a b + c, products and sums in the accumulator type, k in order.
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
void mma_sync(fragment<accumulator, M, N, K, TC, void>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC, void>& c) {
  if (!warp_leader()) return;
  TC fa[M * K], fb[K * N], out[M * N];
  for (int i = 0; i < M * K; ++i) fa[i] = TC(a.x[i]);
  for (int i = 0; i < K * N; ++i) fb[i] = TC(b.x[i]);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      TC acc = c.x[i * N + j];
      for (int k = 0; k < K; ++k) acc += fa[i * K + k] * fb[k * N + j];
      out[i * N + j] = acc;
    }
  std::memcpy(d.x, out, sizeof out);
}
}  // namespace nvcuda::wmma

// ---- device math: the float overloads of the host libm, and the CUDA-only names ----
using std::abs;
using std::ceil;
using std::cos;
using std::erf;
using std::exp;
using std::expm1;
using std::floor;
using std::fmax;
using std::fmin;
using std::isinf;
using std::isnan;
using std::log;
using std::log1p;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline int max(int a, int b) { return std::max(a, b); }
inline int min(int a, int b) { return std::min(a, b); }
inline unsigned max(unsigned a, unsigned b) { return std::max(a, b); }
inline unsigned min(unsigned a, unsigned b) { return std::min(a, b); }
inline long long max(long long a, long long b) { return std::max(a, b); }
inline long long min(long long a, long long b) { return std::min(a, b); }
inline long max(long a, long b) { return std::max(a, b); }
inline long min(long a, long b) { return std::min(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline float min(float a, float b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
template <typename T> T __ldg(const T* p) { return *p; }

// ---- the CUDA keywords as host C++ ----
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#undef __shared__
#undef __constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__
#define threadIdx (::fl_emu::thread_idx)
#define blockIdx (::fl_emu::block_idx)
#define blockDim (::fl_emu::block_dim)
#define gridDim (::fl_emu::grid_dim)
#define warpSize 32
#define __syncthreads() ::fl_emu::syncthreads()
#define atomicCAS ::fl_emu::atomic_cas
#define atomicAdd ::fl_emu::atomic_add
#define atomicMax ::fl_emu::atomic_max
#define atomicMin ::fl_emu::atomic_min
#define atomicExch ::fl_emu::atomic_exch

// ---- the runtime API, redirected (nothing from cudart is linked) ----
#define cudaGetLastError ::fl_emu::get_last_error
#define cudaPeekAtLastError ::fl_emu::peek_at_last_error
#define cudaGetErrorName ::fl_emu::get_error_name
#define cudaGetErrorString ::fl_emu::get_error_string
#define cudaGetDevice ::fl_emu::get_device
#define cudaSetDevice ::fl_emu::set_device
#define cudaGetDeviceCount ::fl_emu::get_device_count
#define cudaMalloc ::fl_emu::malloc_sync
#define cudaFree ::fl_emu::free_bytes
#define cudaMallocAsync ::fl_emu::malloc_async
#define cudaFreeAsync ::fl_emu::free_async
#define cudaMemcpyAsync ::fl_emu::memcpy_async
#define cudaMemcpy ::fl_emu::memcpy_async
#define cudaMemsetAsync ::fl_emu::memset_async
#define cudaMemset ::fl_emu::memset_async
#define cudaMemcpyToSymbolAsync ::fl_emu::memcpy_to_symbol
#define cudaMemcpyToSymbol ::fl_emu::memcpy_to_symbol
#define cudaMemcpyFromSymbolAsync ::fl_emu::memcpy_from_symbol
#define cudaMemcpyFromSymbol ::fl_emu::memcpy_from_symbol
#define cudaStreamSynchronize ::fl_emu::no_op
#define cudaDeviceSynchronize ::fl_emu::no_op
