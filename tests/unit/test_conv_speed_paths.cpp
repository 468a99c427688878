// The convolution paths that make ResNet-style stride-1 convs fast (src/ops/conv.cpp): output
// rows of whole 32-column panels computed straight into the output, planes of up to 16 columns
// on decimated rows (each thread building only the rows its blocks read), and the padded-pitch
// grid and packed panels that remain for the other widths. acim's GEMM computes every output as
// one multiply-add chain over (channel, kernel row, kernel column) from zero, padding taps
// included, then adds the bias and applies the activation (kernels_gemm.hpp). The reference
// here does exactly that in scalar code, so every path must agree with it exactly, at 1 and 2
// threads, and on a second input with the per-thread buffers as the first left them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "acim/threads.hpp"
#include "ops/op.hpp"

namespace acim {
namespace {

using Attrs = std::map<std::string, Attribute>;

Attribute ai(int64_t v) {
  return Attribute{v};
}
Attribute ais(std::vector<int64_t> v) {
  return Attribute{std::move(v)};
}

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t(DType::f32, std::move(shape));
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

// A 2-D conv (a 1-D one has height 1), with or without a fused Relu.
struct Case {
  int64_t n, c, h, w, m, group;
  int64_t kh, kw, dh, dw;
  int64_t pt, pl, pb, pr;  // pads: top, left, bottom, right
  bool relu;
  bool one_d = false;      // given to the op as [N, C, W] (h == 1, kh == 1, no height pads)
  int64_t sh = 1, sw = 1;  // strides
  int64_t oh() const { return (h + pt + pb - (kh - 1) * dh - 1) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - (kw - 1) * dw - 1) / sw + 1; }
};

// Each output: fma chain over (c, kh, kw) from 0, padding taps as zeros, + bias, then Relu.
std::vector<float> chain_ref(const Case& k, const Tensor& x, const Tensor& wt, const Tensor& b) {
  const int64_t cg = k.c / k.group, mg = k.m / k.group, oh_n = k.oh(), ow_n = k.ow();
  const float* xd = x.data<float>();
  const float* wd = wt.data<float>();
  std::vector<float> y;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t m = 0; m < k.m; ++m)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          float acc = 0.0f;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < k.kh; ++i)
              for (int64_t j = 0; j < k.kw; ++j) {
                const int64_t ih = oh * k.sh + i * k.dh - k.pt, iw = ow * k.sw + j * k.dw - k.pl;
                const int64_t c = m / mg * cg + ci;
                const float xv = ih >= 0 && ih < k.h && iw >= 0 && iw < k.w
                                     ? xd[((n * k.c + c) * k.h + ih) * k.w + iw]
                                     : 0.0f;
                acc = std::fma(wd[((m * cg + ci) * k.kh + i) * k.kw + j], xv, acc);
              }
          acc += b.data<float>()[m];
          y.push_back(k.relu ? std::max(acc, 0.0f) : acc);
        }
  return y;
}

Tensor run_conv(const Case& k, const Tensor& x, const Tensor& wt, const Tensor& b) {
  const ops::OpDef* def = ops::find_op("Conv");
  EXPECT_TRUE(def && def->handles_fused);
  Node node;
  node.name = "conv";
  node.op_type = "Conv";
  node.inputs = {"x", "w", "b"};
  node.outputs = {"y"};
  node.attrs = Attrs{{"group", ai(k.group)}};
  if (k.one_d) {
    node.attrs["kernel_shape"] = ais({k.kw});
    node.attrs["dilations"] = ais({k.dw});
    node.attrs["strides"] = ais({k.sw});
    node.attrs["pads"] = ais({k.pl, k.pr});
  } else {
    node.attrs["kernel_shape"] = ais({k.kh, k.kw});
    node.attrs["dilations"] = ais({k.dh, k.dw});
    node.attrs["strides"] = ais({k.sh, k.sw});
    node.attrs["pads"] = ais({k.pt, k.pl, k.pb, k.pr});
  }
  if (k.relu) {
    Node act;
    act.name = "act";
    act.op_type = "Relu";
    act.inputs = {"y"};
    act.outputs = {"z"};
    node.fused.push_back(act);
  }
  ops::RunContext ctx{node, "test", {&x, &wt, &b}, std::vector<Tensor>(1)};
  def->run(ctx);
  return ctx.outputs[0];
}

void check(const Case& k, uint32_t seed) {
  SCOPED_TRACE("N " + std::to_string(k.n) + " C " + std::to_string(k.c) + " " +
               std::to_string(k.h) + "x" + std::to_string(k.w) + " M " + std::to_string(k.m) +
               " kernel " + std::to_string(k.kh) + "x" + std::to_string(k.kw));
  ASSERT_TRUE(!k.one_d || (k.h == 1 && k.kh == 1 && k.pt == 0 && k.pb == 0 && k.sh == 1));
  const Shape xs = k.one_d ? Shape{k.n, k.c, k.w} : Shape{k.n, k.c, k.h, k.w};
  const Shape ws =
      k.one_d ? Shape{k.m, k.c / k.group, k.kw} : Shape{k.m, k.c / k.group, k.kh, k.kw};
  const Shape ys = k.one_d ? Shape{k.n, k.m, k.ow()} : Shape{k.n, k.m, k.oh(), k.ow()};
  const Tensor wt = random_tensor(ws, seed), b = random_tensor({k.m}, seed + 1);
  const int saved = num_threads();
  for (int input = 0; input < 2; ++input) {
    const Tensor x = random_tensor(xs, seed + 2 + static_cast<uint32_t>(input));
    const std::vector<float> want = chain_ref(k, x, wt, b);
    for (int t = 1; t <= 2; ++t) {
      set_num_threads(t);
      const Tensor y = run_conv(k, x, wt, b);
      ASSERT_EQ(y.shape(), ys) << "threads " << t;
      const float* yd = y.data<float>();
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(yd[i], want[i]) << "element " << i << ", threads " << t << ", input " << input;
    }
  }
  set_num_threads(saved);
}

TEST(ConvSpeedPaths, RowsOfWholePanelsStraightIntoTheOutput) {
  // Widths 32 and 64: one and two 32-column panels per output row. ResNet-20's first stage at
  // batch 1 (blocks of rows shared by the threads, each padding the input rows its own blocks
  // read), 20 output channels (a partial 8-row tile) at batch 3 (a thread's share of blocks
  // starting and ending inside an image), groups with a dilated kernel, and the first conv's 3
  // input channels.
  const std::vector<Case> cases = {
      {1, 16, 32, 32, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {3, 5, 6, 64, 20, 1, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {4, 6, 5, 32, 9, 3, 3, 3, 2, 2, 2, 2, 2, 2, true},
      {2, 3, 32, 32, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
  };
  uint32_t seed = 100;
  for (const Case& k : cases) check(k, seed += 10);
}

TEST(ConvSpeedPaths, NarrowPlanesOnDecimatedRows) {
  // Planes of up to 16 columns: ResNet-20's 16 x 16 and 8 x 8 stages at batch 1 (each thread
  // builds the decimated rows of its own output rows) and batch 2, batch 3 in 9 blocks (a
  // thread's share starting and ending inside an image), asymmetric pads, an output
  // wider than 16 from an input of 15 columns, a dilated 5x5, groups, and a 1-D conv.
  const std::vector<Case> cases = {
      {1, 32, 16, 16, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 64, 8, 8, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {2, 32, 16, 16, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {3, 8, 12, 12, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {2, 7, 13, 11, 10, 1, 3, 3, 1, 1, 0, 2, 1, 0, true},
      {1, 4, 9, 15, 6, 1, 3, 3, 1, 1, 2, 2, 2, 2, false},
      {3, 4, 8, 8, 8, 2, 5, 5, 2, 2, 4, 4, 4, 4, true},
      {2, 6, 1, 12, 5, 1, 1, 5, 1, 1, 0, 2, 0, 2, true, true},
  };
  uint32_t seed = 200;
  for (const Case& k : cases) check(k, seed += 10);
}

TEST(ConvSpeedPaths, OtherWidthsOnTheGridOrPackedPanels) {
  // Wider than 16 and not a whole number of panels: the padded-pitch grid (width 40), and
  // packed panels where the grid would waste over a quarter of the GEMM (a 3 x 15 kernel on
  // 17 columns: a pitch of 31), at batch 1 and 3.
  const std::vector<Case> cases = {
      {2, 5, 9, 40, 20, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 5, 9, 40, 12, 1, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {3, 4, 8, 17, 9, 1, 3, 15, 1, 1, 1, 7, 1, 7, true},
      {1, 4, 8, 17, 9, 1, 3, 15, 1, 1, 1, 7, 1, 7, false},
  };
  uint32_t seed = 300;
  for (const Case& k : cases) check(k, seed += 10);
}

TEST(ConvSpeedPaths, StridedRowsOfUpTo32OnTwoLoadPermutes) {
  // Strided convs whose input rows hold 17 to 32 floats: decimated rows from two loads and a
  // two-table permute. ResNet-20's stride-2 3x3 and 1x1 convs from 32 x 32 (batch 1: each
  // thread builds the rows of its own output rows), a column stride of 3 on 23 columns with an
  // asymmetric pad, and a strided 1-D conv on 30 samples.
  const std::vector<Case> cases = {
      {1, 16, 32, 32, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, true, false, 2, 2},
      {2, 16, 32, 32, 32, 1, 1, 1, 1, 1, 0, 0, 0, 0, false, false, 2, 2},
      {2, 3, 9, 23, 5, 1, 3, 3, 1, 1, 1, 1, 1, 0, true, false, 2, 3},
      {2, 4, 1, 30, 6, 1, 1, 5, 1, 1, 0, 2, 0, 2, true, true, 1, 2},
  };
  uint32_t seed = 400;
  for (const Case& k : cases) check(k, seed += 10);
}

}  // namespace
}  // namespace acim
