// Pieces shared by the convolution GEMM kernels (conv2d_gemm.cpp: one image per block;
// conv2d_batch_gemm.cpp: blocks across images): run tables of im2col / col2im blocks (see Run in
// cpu/gemm.h). Helpers are static inline, like those of cpu/gemm.h.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/gemm.h"
#include "fastlayers/params.h"

namespace fl::cpu {

// A stretch of consecutive block columns inside one image: block columns [dst, dst + len) are the
// flattened output positions pq0 .. pq0 + len - 1 of the image whose input starts img_off elements
// after the block's input base.
struct Piece {
  int64_t dst, pq0, len, img_off, n;
};

// One output row's run of block columns: [dst, dst + len) are positions (p, q .. q + len - 1).
struct Segment {
  int64_t dst, p, q, len, img_off;
};

// Upper bound on the segments of a block of `width` consecutive columns.
static inline int64_t max_segments(int64_t width, int64_t Q, int64_t n_pieces) {
  return std::min(width, ceil_div(std::max<int64_t>(width - 1, 0), Q) + 1) + n_pieces;
}

// The run table of a block (see Run in cpu/gemm.h): run[rs * ns + i] for every (r, s). Returns ns.
static inline int make_runs(const Conv2dParams& p, const Piece* pieces, int n_pieces, Segment* seg, Run* run) {
  const int64_t Q = p.Q();
  int ns = 0;
  for (int k = 0; k < n_pieces; ++k) {
    const Piece& pc = pieces[k];
    for (int64_t j = pc.pq0; j < pc.pq0 + pc.len;) {
      const int64_t pp = j / Q, q = j % Q;
      const int64_t len = std::min(Q - q, pc.pq0 + pc.len - j);
      seg[ns++] = {pc.dst + (j - pc.pq0), pp, q, len, pc.img_off};
      j += len;
    }
  }
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < p.S; ++s) {
      Run* out = run + (r * p.S + s) * ns;
      const int64_t off_w = s * p.dil_w - p.pad_w;  // iw = q * sw + off_w
      // valid q: 0 <= q*sw + off_w <= W-1
      const int64_t q_lo = off_w >= 0 ? 0 : ceil_div(-off_w, p.stride_w);
      const int64_t q_hi = p.W - 1 - off_w < 0 ? 0 : (p.W - 1 - off_w) / p.stride_w + 1;  // exclusive
      for (int i = 0; i < ns; ++i) {
        const Segment& sg = seg[i];
        const int64_t ih = sg.p * p.stride_h - p.pad_h + r * p.dil_h;
        Run& o = out[i];
        o.dst = sg.dst;
        o.len = sg.len;
        const int64_t lo = std::max(sg.q, q_lo), hi = std::min(sg.q + sg.len, q_hi);
        if (ih < 0 || ih >= p.H || lo >= hi) {
          o.z0 = sg.len;
          o.n = 0;
          o.src = 0;
        } else {
          o.z0 = lo - sg.q;
          o.n = hi - lo;
          o.src = sg.img_off + ih * p.W + lo * p.stride_w + off_w;
        }
      }
    }
  return ns;
}

}  // namespace fl::cpu
