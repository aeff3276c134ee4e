// One 3x3 convolution through fastlayers' C++ front door, checked against a direct loop: the smallest program
// a C++ user writes against the installed library (fastlayers::core).
#include <cmath>
#include <cstdio>
#include <vector>

#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

int main() {
  fl::Conv2dParams p;
  p.N = 2; p.C = 3; p.H = 9; p.W = 7; p.K = 4; p.R = 3; p.S = 3; p.pad_h = 1; p.pad_w = 1;
  std::vector<float> x(p.N * p.C * p.H * p.W), w(p.K * p.C * p.R * p.S), b(p.K), y(p.N * p.K * p.P() * p.Q());
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int(i % 5) - 2) * 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(i);

  fl::set_num_threads(2);
  fl::conv2d_forward(fl::make_view(y.data(), fl::DType::Float32, {p.N, p.K, p.P(), p.Q()}),
                     fl::make_view(x.data(), fl::DType::Float32, {p.N, p.C, p.H, p.W}),
                     fl::make_view(w.data(), fl::DType::Float32, {p.K, p.C, p.R, p.S}),
                     fl::make_view(b.data(), fl::DType::Float32, {p.K}), p);

  double worst = 0;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t oh = 0; oh < p.P(); ++oh)
        for (int64_t ow = 0; ow < p.Q(); ++ow) {
          double s = b[k];
          for (int64_t c = 0; c < p.C; ++c)
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t t = 0; t < p.S; ++t) {
                const int64_t ih = oh - p.pad_h + r, iw = ow - p.pad_w + t;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                s += double(x[((n * p.C + c) * p.H + ih) * p.W + iw]) * w[((k * p.C + c) * p.R + r) * p.S + t];
              }
          worst = std::fmax(worst, std::fabs(s - y[((n * p.K + k) * p.P() + oh) * p.Q() + ow]));
        }
  std::printf("conv2d %s: output %lldx%lldx%lldx%lld, largest error vs a direct loop %g\n", p.str().c_str(),
              (long long)p.N, (long long)p.K, (long long)p.P(), (long long)p.Q(), worst);
  return worst < 1e-4 ? 0 : 1;
}
