// End-to-end tests of `acim kws` on WAV files written here (libsndfile): broken files and bad
// arguments are one-line errors; classifying clips gives the float model's own prediction on the
// front end's features and a chip prediction; --stream gates windows with the VAD and times its
// detections; --eval reports accuracy at 0 s and 1 day and the always-on power with the formula
// of include/acim/kws.hpp. The model is the bundled DS-CNN-S (zoo/kws/ds_cnn_s.onnx).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "acim/audio.hpp"
#include "acim/executor.hpp"
#include "acim/kws.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/rng.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

namespace {

const std::string kModel = " --model zoo/kws/ds_cnn_s.onnx";

// `seconds` of -70 dBFS noise with a tone burst (0.3 amplitude) over [on_s, off_s).
std::vector<float> burst(double seconds, double on_s, double off_s, double hz, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(std::llround(seconds * acim::kAudioSampleRate)));
  acim::RandomStream(seed, {0xA0}).normal(x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / acim::kAudioSampleRate;
    x[i] *= 3e-4f;
    if (t >= on_s && t < off_s)
      x[i] += static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * hz * t));
  }
  return x;
}

}  // namespace

TEST(CliKws, BadFilesAndArgumentsAreOneLineErrors) {
  const TempDir dir("kws_bad");
  const fs::path text = dir / "notes.wav";
  std::ofstream(text) << "not audio at all\n";
  expect_one_line_error(run_acim("kws " + text.string() + kModel),
                        {text.string(), "not a WAV file"});
  expect_one_line_error(run_acim("kws " + (dir / "none.wav").string() + kModel),
                        {"none.wav", "no such file"});
  const fs::path cut = dir / "cut.wav";
  acim::write_wav(cut, burst(1.0, 0.2, 0.6, 440, 1), acim::kAudioSampleRate);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  expect_one_line_error(run_acim("kws " + cut.string() + kModel), {cut.string(), "truncated"});
  expect_one_line_error(run_acim("kws" + kModel), {"--eval", "--stream"});
  const fs::path ok = dir / "ok.wav";
  acim::write_wav(ok, burst(1.0, 0.2, 0.6, 440, 1), acim::kAudioSampleRate);
  expect_one_line_error(run_acim("kws " + ok.string() + " --stream " + ok.string() + kModel),
                        {"one of"});
  expect_one_line_error(run_acim("kws " + ok.string() + " --model " + (dir / "m.onnx").string()),
                        {"m.onnx", "does not exist"});
  const fs::path cal = dir / "cal.npy";
  acim::save_npy(cal, acim::Tensor(acim::DType::f32, {4, 49, 10}));
  expect_one_line_error(run_acim("kws " + ok.string() + kModel + " --calibrate " + cal.string()),
                        {cal.string(), "float32[4,49,10]", "float32[K,1,49,10]"});
  expect_one_line_error(run_acim("kws " + ok.string() + " --program x.acim --chip hermes"),
                        {"x.acim", "--chip do not apply"});
  fs::create_directories(dir / "set" / "maybe");
  expect_one_line_error(run_acim("kws --eval " + (dir / "set").string() + kModel),
                        {"maybe", "not a keyword class folder"});
}

// The float keyword is the model's argmax on the front end's own features of the same file, its
// confidence the softmax; a 44.1 kHz stereo file is converted, with a note.
TEST(CliKws, ClassifiesClipsFloatAndOnChip) {
  const TempDir dir("kws_classify");
  const fs::path a = dir / "a.wav", b = dir / "b.wav";
  acim::write_wav(a, burst(1.0, 0.2, 0.7, 600, 2), acim::kAudioSampleRate);
  std::vector<float> stereo;
  for (float v : acim::resample(burst(1.0, 0.1, 0.5, 1500, 3), 16000, 44100))
    stereo.insert(stereo.end(), {v, 0.5f * v});
  acim::write_wav(b, stereo, 44100, 2);
  Result r = run_acim("kws " + a.string() + " " + b.string() + kModel + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.err, {"b.wav", "44100 Hz, 2 channels, mixed down to mono, resampled to 16 kHz"});
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["files"].size(), 2u);
  EXPECT_EQ(j["chip"], "edge-voice");

  acim::Graph g = acim::load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx");
  acim::run_default_passes(g);
  const acim::Mfcc mfcc;
  const acim::Tensor x =
      acim::kws_features(mfcc, {acim::read_wav(a).samples, acim::read_wav(b).samples});
  const auto want =
      acim::kws_predictions(acim::Executor(g).run({{g.inputs[0].name, x}}).at(g.outputs[0].name));
  for (size_t i = 0; i < 2; ++i) {
    const auto& f = j["files"][i];
    EXPECT_EQ(f["float"]["label"].get<int>(), want[i].label);
    EXPECT_NEAR(f["float"]["confidence"].get<double>(), want[i].confidence, 1e-5);
    EXPECT_EQ(f["float"]["keyword"],
              std::string(acim::kKwsClasses[static_cast<size_t>(want[i].label)]));
    const double c = f["chip"]["confidence"].get<double>();
    EXPECT_GT(c, 1.0 / 12 - 1e-6);  // a softmax maximum over 12 classes
    EXPECT_LE(c, 1.0);
  }
  r = run_acim("kws " + a.string() + kModel);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"a.wav", "float:", "chip:", "edge-voice"});
}

// 4 s of quiet noise with a tone burst over [1.5, 2.0) s: the gate is open on frames 75..149
// (the burst, then 50 frames of hangover), so of the 13 windows (starts 0, 0.25, ..., 3.0 s) the
// 9 starting at 0.75 .. 2.75 s overlap it; with threshold 0 every keyword window is a detection.
TEST(CliKws, StreamGatesWindowsAndTimesDetections) {
  const TempDir dir("kws_stream");
  const fs::path w = dir / "long.wav";
  acim::write_wav(w, burst(4.0, 1.5, 2.0, 800, 4), acim::kAudioSampleRate);
  Result r = run_acim("kws --stream " + w.string() + kModel + " --threshold 0 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["windows"], 13);
  EXPECT_EQ(j["classified"], 9);
  EXPECT_DOUBLE_EQ(j["duty_cycle"].get<double>(), 75.0 / 200);
  for (const char* who : {"chip_detections", "float_detections"})
    for (const auto& d : j[who]) {
      EXPECT_GE(d["start_s"].get<double>(), 0.75 - 1e-9) << who;
      EXPECT_LE(d["end_s"].get<double>(), 3.75 + 1e-9) << who;
      EXPECT_GE(acim::kws_class_index(d["keyword"].get<std::string>()), acim::kKwsFirstKeyword);
    }
  r = run_acim("kws --stream " + w.string() + kModel + " --threshold 0");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"13 windows", "9 classified", "chip:", "float:"});
}

// A two-class folder: accuracies at 0 s and 1 day over 2 instances; the baselines' power is
// duty x rate x (network + front end) + rate x VAD (the chip's: tests/unit/test_kws.cpp).
TEST(CliKws, EvalReportsAccuracyEnergyAndAlwaysOnPower) {
  const TempDir dir("kws_eval");
  for (const char* c : {"yes", "_silence_"}) {
    fs::create_directories(dir / "set" / c);
    for (int k = 0; k < 2; ++k)
      acim::write_wav(dir / "set" / c / ("s" + std::to_string(k) + ".wav"),
                      std::string(c) == "yes" ? burst(1.0, 0.2, 0.6, 500.0 + 200 * k, 10 + k)
                                              : burst(1.0, 2.0, 2.0, 0, 20 + k),
                      acim::kAudioSampleRate);
  }
  Result r = run_acim("kws --eval " + (dir / "set").string() + kModel +
                      " --instances 2 --duty-cycle 0.25 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 4);
  ASSERT_EQ(j["accuracy"].size(), 2u);
  EXPECT_EQ(j["accuracy"][0]["time_since_programming_s"], 0.0);
  EXPECT_EQ(j["accuracy"][1]["time_since_programming_s"], 86400.0);
  for (const auto& a : j["accuracy"]) EXPECT_EQ(a["chip"].size(), 2u);
  EXPECT_EQ(j["duty_cycle"], 0.25);
  EXPECT_EQ(j["front_end"]["frames_per_clip"], 49);
  ASSERT_GE(j["power"].size(), 2u);
  for (size_t i = 1; i < j["power"].size(); ++i) {
    const auto& p = j["power"][i];
    EXPECT_GT(p["leakage_uw"].get<double>(), 0) << p["design"];
    const double want =
        p["leakage_uw"].get<double>() +
        (0.25 * 50 * (p["network_pj"].get<double>() + p["front_end_pj"].get<double>()) +
         50 * p["vad_pj"].get<double>()) *
            1e-6;
    EXPECT_NEAR(p["average_uw"].get<double>(), want, 1e-9 * want) << p["design"];
  }

  r = run_acim("kws --eval " + (dir / "set").string() + kModel + " --instances 1");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"4 clips", "0 s after programming", "1 day after programming", "uW",
                     "digital NPU 22 nm", "measured on these clips", "leakage        power"});
}
