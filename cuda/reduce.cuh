// Two-level deterministic reductions over segments (a channel, a (sample, group), an output feature):
// each segment of length M is cut into B chunks; block (r, b) reduces chunk b of segment r with block_sum
// and writes one partial; a second step combines the B partials of each segment in order b = 0, 1, ... .
// B depends on M alone (not on the device or the timing), so a given shape always sums in the same order:
// deterministic, no floating-point atomics, and a long segment spreads over many blocks instead of one.
#pragma once
#include "cuda/common.cuh"

namespace fl::cuda {

constexpr int64_t kChunk = 4096, kMaxChunks = 128;

struct Chunks {
  int64_t len, count;  // chunk length; number of chunks, each non-empty (count >= 1)
};
inline Chunks chunks_for(int64_t M) {
  int64_t b = (M + kChunk - 1) / kChunk;
  b = b < 1 ? 1 : (b > kMaxChunks ? kMaxChunks : b);
  const int64_t len = M > 0 ? (M + b - 1) / b : 1;
  return {len, M > 0 ? (M + len - 1) / len : 1};
}
// Segments on x (up to 2^31 - 1), chunks on y.
inline dim3 chunk_grid(int64_t segments, const Chunks& ch) {
  return dim3(static_cast<unsigned>(segments), static_cast<unsigned>(ch.count));
}

// Scratch for the partials from the stream-ordered pool, freed in stream order after the launches that
// use it (so it may go out of scope right after queuing them).
class Scratch {
 public:
  Scratch(size_t bytes, Stream stream) : stream_(stream) {
    check(cudaMallocAsync(&p_, bytes > 0 ? bytes : 1, stream), "cudaMallocAsync");
  }
  ~Scratch() { cudaFreeAsync(p_, stream_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename U> U* as() const { return static_cast<U*>(p_); }

 private:
  void* p_ = nullptr;
  Stream stream_;
};

template <typename A> struct Sum2 { A a, b; };

// f(r, j) -> Sum2<A>: the two values summed at element j of segment r. Launch on chunk_grid(R, chunks_for(M)).
template <typename A, typename F>
__global__ void sum2_partial_kernel(Sum2<A>* part, int64_t M, int64_t len, F f) {
  const int64_t r = blockIdx.x, lo = blockIdx.y * len, hi = lo + len < M ? lo + len : M;
  A a = 0, b = 0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
    const Sum2<A> v = f(r, j);
    a += v.a;
    b += v.b;
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) part[r * gridDim.y + blockIdx.y] = Sum2<A>{a, b};
}

template <typename A>
__device__ Sum2<A> combine(const Sum2<A>* part, int64_t count) {
  Sum2<A> t{0, 0};
  for (int64_t b = 0; b < count; ++b) {
    t.a += part[b].a;
    t.b += part[b].b;
  }
  return t;
}

// out[r] = the first of the two sums of segment r, stored as T.
template <typename T, typename A>
__global__ void store_sum_kernel(T* out, const Sum2<A>* part, int64_t R, int64_t count) {
  FL_GRID_LOOP(r, R) out[r] = T(combine(part + r * count, count).a);
}

// out[r] = sum over j < M of f(r, j) (a Sum2 whose .a is the value), for r < R: the whole two-level reduction.
template <typename T, typename A, typename F>
void segment_sums(T* out, int64_t R, int64_t M, F f, Stream stream) {
  if (R <= 0) return;
  const Chunks ch = chunks_for(M);
  Scratch part(sizeof(Sum2<A>) * R * ch.count, stream);
  sum2_partial_kernel<A><<<chunk_grid(R, ch), kThreads, 0, stream>>>(part.as<Sum2<A>>(), M, ch.len, f);
  store_sum_kernel<T, A><<<blocks_for(R), kThreads, 0, stream>>>(out, part.as<Sum2<A>>(), R, ch.count);
}

}  // namespace fl::cuda
