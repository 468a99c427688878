// Keyword spotting's own logic: class names, softmax predictions, the streaming window's gating
// and merging (with a stand-in classifier, so the expected detections are known exactly), and
// the front end's price on a chip's digital unit.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/kws.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"

namespace acim {
namespace {

TEST(Kws, ClassIndexAndPredictions) {
  EXPECT_EQ(kws_class_index("_silence_"), 0);
  EXPECT_EQ(kws_class_index("yes"), 2);
  EXPECT_EQ(kws_class_index("go"), 11);
  EXPECT_EQ(kws_class_index("maybe"), -1);
  const Tensor logits = Tensor::from_vector<float>({2, 3}, {0, 0, 0, 1, 3, 1});
  const std::vector<KwsPrediction> p = kws_predictions(logits);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].label, 0);  // ties: the first
  EXPECT_NEAR(p[0].confidence, 1.0 / 3, 1e-6);
  EXPECT_EQ(p[1].label, 1);
  EXPECT_NEAR(p[1].confidence, std::exp(3.0) / (2 * std::exp(1.0) + std::exp(3.0)), 1e-6);
  EXPECT_THROW(kws_predictions(Tensor(DType::f32, {4})), Error);
}

TEST(Kws, FeaturesPadAndCutClipsToOneSecond) {
  const Mfcc m;
  std::vector<float> tone(16000);
  for (size_t i = 0; i < tone.size(); ++i)
    tone[i] = static_cast<float>(
        0.3 * std::sin(2 * std::numbers::pi * 440 * static_cast<double>(i) / 16000));
  std::vector<float> longer(tone);
  longer.resize(24000, 0.7f);
  std::vector<float> shorter(tone.begin(), tone.begin() + 8000);
  std::vector<float> padded(shorter);
  padded.resize(16000, 0.0f);
  const Tensor t = kws_features(m, {tone, longer, shorter});
  ASSERT_EQ(t.shape(), (Shape{3, 1, 49, 10}));
  const float* d = t.data<float>();
  for (int64_t i = 0; i < 490; ++i) ASSERT_EQ(d[i], d[490 + i]);  // cut to the first second
  const std::vector<float> want = m.compute(padded);
  for (int64_t i = 0; i < 490; ++i) ASSERT_EQ(d[980 + i], want[static_cast<size_t>(i)]);
}

// 5 s: silence with a loud tone over [2.0, 2.2) s, VAD hangover 10 frames (0.2 s): the gate is open
// over [2.0, 2.4) s. Windows of 1 s every 0.25 s that overlap it start at 1.25 .. 2.25 s (5 of
// the 17). The stand-in classifier says "yes" with confidence 0.9 when a window holds the tone's
// start (its energy coefficient, log(DBL_EPSILON) = -36 in silent frames, is above -10 in one
// of the window's frames), else "_unknown_": windows at 1.25 .. 2.0 s say "yes" and merge into
// one detection over [1.25, 3.0) s.
TEST(Kws, StreamGatesMergesAndTimesDetections) {
  std::vector<float> x(80000, 0.0f);
  for (size_t i = 32000; i < 35200; ++i)
    x[i] = static_cast<float>(
        0.5 * std::sin(2 * std::numbers::pi * 600 * static_cast<double>(i) / 16000));
  const Mfcc m;
  int64_t calls = 0;
  const KwsClassifier fake = [&](const Tensor& f) {
    const int64_t n = f.dim(0), frames = f.dim(2), coeffs = f.dim(3);
    Tensor logits(DType::f32, {n, 12});
    for (int64_t i = 0; i < n; ++i) {
      float loudest = -1e9f;
      for (int64_t t = 0; t < frames; ++t)
        loudest = std::max(loudest, f.data<float>()[(i * frames + t) * coeffs]);
      float* row = logits.data<float>() + i * 12;
      for (int k = 0; k < 12; ++k) row[k] = 0;
      // 0.9 = e^a / (e^a + 11): a = ln(99).
      row[loudest > -10 ? 2 : 1] = static_cast<float>(std::log(99.0));
    }
    calls += n;
    return logits;
  };
  KwsStreamOptions o;
  o.vad.hangover = 10;
  const KwsStreamResult r = kws_stream(x, m, fake, o);
  EXPECT_EQ(r.windows, 17);
  EXPECT_EQ(r.classified, 5);
  EXPECT_EQ(calls, 5);
  EXPECT_DOUBLE_EQ(r.duty_cycle, 20.0 / 250);
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_EQ(r.detections[0].label, 2);
  EXPECT_DOUBLE_EQ(r.detections[0].start_s, 1.25);
  EXPECT_DOUBLE_EQ(r.detections[0].end_s, 3.0);
  EXPECT_NEAR(r.detections[0].confidence, 0.9, 1e-6);
  // Above the confidence: nothing.
  o.threshold = 0.95f;
  EXPECT_TRUE(kws_stream(x, m, fake, o).detections.empty());
  o.hop_s = 0;
  EXPECT_THROW(kws_stream(x, m, fake, o), Error);
}

// The front end's price is its lane-ops at the digital unit's energy plus its buffer bytes at
// the core buffer's, its time the vector operations at op_time_ns.
TEST(Kws, FrontEndPriceOnTheDigitalUnit) {
  const ChipSpec chip = chip_preset("edge-voice");
  const Mfcc m;
  const FrontEndCost c = price_front_end(m, {}, chip);
  const FrontEndOps o = m.ops_per_frame();
  const double want =
      static_cast<double>(o.lane_ops()) * chip.core.digital.op_energy_pj +
      static_cast<double>(o.buffer_read_bytes) * chip.core.buffer.read_energy_pj_per_byte +
      static_cast<double>(o.buffer_write_bytes) * chip.core.buffer.write_energy_pj_per_byte;
  EXPECT_NEAR(c.mfcc_pj, want, 1e-9 * want);
  const int64_t lanes = chip.core.digital.vector_lanes;
  EXPECT_DOUBLE_EQ(c.mfcc_ns, static_cast<double>((o.lane_ops() + lanes - 1) / lanes) *
                                  chip.core.digital.op_time_ns);
  EXPECT_EQ(c.frames_per_clip, 49);
  EXPECT_LT(c.vad_pj, c.mfcc_pj / 10);
  // One frame's MFCC must finish within its 20 ms hop on the chip.
  EXPECT_LT(c.mfcc_ns, 20e6);
}

// Always-on power: at duty cycle 0 only leakage and the gate (a baseline's: its SRAM's); at 1 the
// chip's average power at the rate plus the front end; the baselines' front end priced at their
// node (the 22 nm one at the chip's own node and supply: unchanged).
TEST(Kws, AlwaysOnPowerFollowsTheDutyCycle) {
  const ChipSpec chip = chip_preset("edge-voice");
  const Program program =
      compile_program(load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx"), chip, {});
  const Report report = make_report(program, program.calibration_set, {.rate = 50});
  const FrontEndCost fe = price_front_end(Mfcc(), {}, chip);
  const std::vector<KwsPowerRow> off = kws_power(report, chip, fe, 0.0);
  const std::vector<KwsPowerRow> on = kws_power(report, chip, fe, 1.0);
  ASSERT_EQ(off.size(), 1 + report.baselines.size());
  EXPECT_NEAR(off[0].average_uw, report.cost.leakage_uw + 50 * fe.vad_pj * 1e-6, 1e-9);
  EXPECT_NEAR(on[0].average_uw,
              report.cost.average_power_uw(50) + 50 * (fe.mfcc_pj + fe.vad_pj) * 1e-6, 1e-9);
  // The digital baseline: its SRAM's retention leakage and the gate.
  EXPECT_GT(off[1].leakage_uw, 0);
  EXPECT_DOUBLE_EQ(off[1].leakage_uw, report.baselines[0].digital.leakage_uw);
  EXPECT_NEAR(off[1].average_uw, off[1].leakage_uw + 50 * fe.vad_pj * 1e-6, 1e-12);
  EXPECT_EQ(report.baselines[0].digital.technology_nm, chip.technology_nm);
  EXPECT_NEAR(on[1].front_end_pj, fe.mfcc_pj, 1e-9 * fe.mfcc_pj);
  EXPECT_LT(on[2].front_end_pj, fe.mfcc_pj);  // 5 nm
  EXPECT_THROW(kws_power(report, chip, fe, 1.5), Error);
}

}  // namespace
}  // namespace acim
