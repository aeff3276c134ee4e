// Winograd F(4x4, 3x3) input and output transforms of conv2d_winograd.cpp, on a block of L tiles at a time
// (one tile per lane; L = the GEMM micro-kernel's nr). The float32 set is compiled once per instruction
// set (conv2d_winograd.cpp for the portable path and any width, simd/conv2d_winograd_avx2.cpp,
// simd/conv2d_winograd_avx512.cpp), where the plain loops over lanes vectorize at the unit's width, and
// chosen at run time.
//
// Only plain types cross the table boundary; the loops live in an anonymous namespace (compiled under
// FL_WINOGRAD_IMPL only) and use no inline function of another header, so nothing compiled with wider
// instruction sets can be linked into baseline code.
#pragma once
#include <cstdint>

namespace fl::cpu {

constexpr int kWinoAlpha = 6;                       // input tile side: 4 outputs + 3 - 1
constexpr int kWinoPos = kWinoAlpha * kWinoAlpha;  // transformed positions per tile

// Where the lanes of a tile block read and write. Lane l is tile t0 + l of the batch.
struct WinoLanes {
  int64_t in_base[64];   // offset of the patch's top-left element in image n's channel 0 (may be < 0)
  int64_t out_base[64];  // offset of the tile's top-left output in image n's channel 0
  int64_t img[64];       // image of the lane, -1 past the last tile
  int64_t h0[64], w0[64];  // patch origin (may be < 0)
  bool inside[64];       // the whole 6x6 patch lies in the input
  // Runs of consecutive tiles along one tile row (same image, tile columns tx, tx + 1, ...): in_run[l] is
  // the length of the run starting at lane l whose patches all lie inside the input, out_run[l] of the
  // run whose 4x4 outputs all lie inside the output. Their rows are read (written) with stride-4 loops.
  int in_run[64], out_run[64];
};

// The problem: input N x C x H x W, output N x K x P x Q, paddings; th x tw tiles per image, tiles in all.
struct WinoGeom {
  int64_t N, C, H, W, K, P, Q, ph, pw, th, tw, tiles;
};

// The transforms of one instruction set at lane count `lanes` (see below).
struct WinoTransforms {
  int lanes;
  // V[xi * vs + c * lanes + l] = (B^T d B)[xi] of channel c of the block's tile l, for c < g.C.
  void (*input)(const float* x, const WinoGeom& g, const WinoLanes& lg, float* V, int64_t vs);
  // Output tiles of channels k0 .. k0 + kn - 1 (plus bias[k], may be null) from
  // M[xi * ms + (k - k0) * lanes + l].
  void (*output)(const float* M, int64_t ms, const WinoGeom& g, const WinoLanes& lg, int64_t k0, int64_t kn,
                 const float* bias, float* y);
};

namespace detail {
#if defined(FL_HAVE_X86_SIMD)
WinoTransforms winograd_transforms_avx2();    // lanes 16 (the AVX2 micro-kernel's nr)
WinoTransforms winograd_transforms_avx512();  // lanes 32
#endif
}  // namespace detail

}  // namespace fl::cpu

#ifdef FL_WINOGRAD_IMPL
namespace fl::cpu {
namespace {

// ---- 1-D transforms on lane vectors: element i of a transform is the L lanes at p[i * stride] ----

// B^T d (6 -> 6).
template <int L, typename T>
void input_1d(const T* d, int64_t ds, T* o, int64_t os) {
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
void output_1d(const T* m, int64_t ms, T* o, int64_t os) {
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

// V[xi][c][lane] (row stride L, position stride vs) for channels [0, C) of the block's tiles.
template <int L, typename T>
void input_transform(const T* x, const WinoGeom& g, const WinoLanes& lg, T* V, int64_t vs) {
  alignas(64) T d[kWinoPos * L];
  alignas(64) T t[kWinoPos * L];
  const int64_t HW = g.H * g.W;
  for (int64_t c = 0; c < g.C; ++c) {
    for (int l = 0; l < L;) {
      if (lg.img[l] < 0) {
        for (int i = 0; i < kWinoPos; ++i) d[i * L + l] = T(0);
        ++l;
        continue;
      }
      const T* src = x + (lg.img[l] * g.C + c) * HW + lg.in_base[l];
      if (const int n = lg.in_run[l]; n > 0) {
        // n tiles of one tile row, all inside: element (i, j) of tile l + u is src[i * W + 4 u + j]
        for (int i = 0; i < kWinoAlpha; ++i) {
          const T* row = src + i * g.W;
          for (int j = 0; j < kWinoAlpha; ++j) {
            T* dd = d + (i * kWinoAlpha + j) * L + l;
            for (int u = 0; u < n; ++u) dd[u] = row[4 * u + j];
          }
        }
        l += n;
        continue;
      }
      for (int i = 0; i < kWinoAlpha; ++i) {
        const bool row_in = static_cast<uint64_t>(lg.h0[l] + i) < static_cast<uint64_t>(g.H);
        for (int j = 0; j < kWinoAlpha; ++j) {
          const bool in = row_in && static_cast<uint64_t>(lg.w0[l] + j) < static_cast<uint64_t>(g.W);
          d[(i * kWinoAlpha + j) * L + l] = in ? src[i * g.W + j] : T(0);
        }
      }
      ++l;
    }
    // columns: t[.][j] = B^T d[.][j]; rows: V[i][.] = t[i][.] B
    for (int j = 0; j < kWinoAlpha; ++j) input_1d<L>(d + j * L, kWinoAlpha * L, t + j * L, kWinoAlpha * L);
    for (int i = 0; i < kWinoAlpha; ++i) input_1d<L>(t + i * kWinoAlpha * L, L, V + (i * kWinoAlpha) * vs + c * L, vs);
  }
}

// Output tiles of channels [k0, k0 + kn) from M[xi][k - k0][lane] (row stride L, position stride ms).
template <int L, typename T>
void output_transform(const T* M, int64_t ms, const WinoGeom& g, const WinoLanes& lg, int64_t k0, int64_t kn,
                      const T* bias, T* y) {
  alignas(64) T t[4 * kWinoAlpha * L];
  alignas(64) T o[16 * L];
  const int64_t PQ = g.P * g.Q;
  for (int64_t kk = 0; kk < kn; ++kk) {
    const T* m = M + kk * L;
    for (int j = 0; j < kWinoAlpha; ++j) output_1d<L>(m + j * ms, kWinoAlpha * ms, t + j * L, kWinoAlpha * L);
    for (int a = 0; a < 4; ++a) output_1d<L>(t + a * kWinoAlpha * L, L, o + a * 4 * L, L);
    const T b = bias ? bias[k0 + kk] : T(0);
    for (int l = 0; l < L;) {
      if (lg.img[l] < 0) break;
      T* dst = y + (lg.img[l] * g.K + k0 + kk) * PQ + lg.out_base[l];
      if (const int n = lg.out_run[l]; n > 0) {
        // n whole tiles of one tile row: output (a, bb) of tile l + u goes to dst[a * Q + 4 u + bb]
        for (int a = 0; a < 4; ++a) {
          T* row = dst + a * g.Q;
          const T* oa = o + a * 4 * L + l;
          for (int u = 0; u < n; ++u) {
            row[4 * u] = oa[u] + b;
            row[4 * u + 1] = oa[L + u] + b;
            row[4 * u + 2] = oa[2 * L + u] + b;
            row[4 * u + 3] = oa[3 * L + u] + b;
          }
        }
        l += n;
        continue;
      }
      const int64_t p0 = lg.h0[l] + g.ph, q0 = lg.w0[l] + g.pw;
      const int ra = static_cast<int>(g.P - p0 < 4 ? g.P - p0 : 4);
      const int rb = static_cast<int>(g.Q - q0 < 4 ? g.Q - q0 : 4);
      for (int a = 0; a < ra; ++a)
        for (int bb = 0; bb < rb; ++bb) dst[a * g.Q + bb] = o[(a * 4 + bb) * L + l] + b;
      ++l;
    }
  }
}

template <int L>
WinoTransforms winograd_table() {
  return WinoTransforms{L, input_transform<L, float>, output_transform<L, float>};
}

}  // namespace
}  // namespace fl::cpu
#endif  // FL_WINOGRAD_IMPL
