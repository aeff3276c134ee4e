// Scalar math helpers written so that loops over arrays vectorize at -O3 without fast-math flags, shared
// by the kernel files (activation.cpp, loss.cpp, and the SIMD translation units that recompile the loss
// rows with wider instruction sets). Everything here has internal linkage, so a copy compiled with
// -mavx512f never stands in for the baseline one at link time.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace fl::cpu {
namespace {

// e^x for float32, relative error ~1e-7; 0 below -87 and inf above 88.7 (libm's answers there are
// subnormal or within 10% of FLT_MAX; NaN stays NaN).
inline float exp_f(float x) {
  float xc = x < -87.0f ? -87.0f : (x > 88.7f ? 88.7f : x);
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  float fn = (xc * 1.44269504088896341f + kMagic) - kMagic;
  float r = xc - fn * 0.693145751953125f;   // ln2 split in a high part exact in float ...
  r = r - fn * 1.42860682030941723212e-6f;  // ... and the low rest
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n as 2^(n-1) * 2 so that n = 128 (x near the overflow bound) stays representable.
  int32_t bits = (static_cast<int32_t>(fn) + 126) << 23;
  float half_scale;
  std::memcpy(&half_scale, &bits, sizeof half_scale);
  float e = p * half_scale * 2.0f;
  e = x < -87.0f ? 0.0f : e;
  return x > 88.7f ? INFINITY : e;
}
inline double exp_f(double x) { return std::exp(x); }

// Reductions over a contiguous row split across kLanes accumulators, so they vectorize without
// reassociation flags; the order is fixed, so results do not depend on the thread count.
constexpr int kLanes = 8;
template <typename T> T row_max(const T* r, int64_t n) {
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = r[0];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = (r[i + l] > acc[l] || r[i + l] != r[i + l]) ? r[i + l] : acc[l];
  T m = acc[0];
  for (int l = 1; l < kLanes; ++l) m = (acc[l] > m || acc[l] != acc[l]) ? acc[l] : m;
  for (; i < n; ++i) m = (r[i] > m || r[i] != r[i]) ? r[i] : m;
  return m;
}
template <typename T> T row_sum(const T* r, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += r[i + l];
  T s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  for (; i < n; ++i) s += r[i];
  return s;
}

}  // namespace
}  // namespace fl::cpu
