// The audio front end: WAV reading (formats, rates, channels, broken files), resampling, MFCC
// properties that hold for any correct implementation, and the voice-activity gate. The MFCC's
// agreement with python_speech_features is checked by tests/python/check_mfcc.py (ctest
// mfcc_matches_python_speech_features).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <thread>
#include <vector>

#include "acim/audio.hpp"
#include "acim/error.hpp"
#include "acim/rng.hpp"
#include "acim/tensor.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace acim {
namespace {

std::vector<float> sine(double hz, double amplitude, int rate, double seconds) {
  std::vector<float> x(static_cast<size_t>(std::llround(seconds * rate)));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(amplitude *
                              std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
  return x;
}

// Frequency of a clean tone from its rising zero crossings, interpolated, over [begin, end).
double tone_frequency(const std::vector<float>& x, int rate, size_t begin, size_t end) {
  double first = -1, last = -1;
  int crossings = 0;
  for (size_t i = begin + 1; i < end; ++i) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      const double t = static_cast<double>(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
      if (first < 0) first = t;
      last = t;
      ++crossings;
    }
  }
  return (crossings - 1) * rate / (last - first);
}

double rms(const std::vector<float>& x, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
  return std::sqrt(s / static_cast<double>(end - begin));
}

template <class F>
void expect_error(F&& f, ErrorKind kind, const std::vector<std::string>& must_contain) {
  try {
    f();
    ADD_FAILURE() << "no acim::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& s : must_contain)
      EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what() << " lacks " << s;
  }
}

TEST(AudioWav, Pcm16At16kRoundTripsWithinOneStep) {
  test::TempDir dir;
  const std::vector<float> x = sine(440, 0.5, 16000, 0.25);
  write_wav(dir.path() / "a.wav", x, 16000);
  const Audio a = read_wav(dir.path() / "a.wav");
  EXPECT_EQ(a.file_rate, 16000);
  EXPECT_EQ(a.file_channels, 1);
  EXPECT_EQ(a.file_format, "PCM 16-bit");
  ASSERT_EQ(a.samples.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(a.samples[i], x[i], 1.0 / 32768) << i;
}

// 8-bit, 24-bit and float files read back as the same signal, each within its quantisation step.
TEST(AudioWav, EightBitTwentyFourBitAndFloatAreConverted) {
  test::TempDir dir;
  const std::vector<float> x = sine(300, 0.6, 16000, 0.1);
  const struct {
    WavFormat format;
    const char* name;
    double step;
  } cases[] = {{WavFormat::pcm8, "PCM 8-bit (unsigned)", 1.0 / 128},
               {WavFormat::pcm24, "PCM 24-bit", 1.0 / (1 << 23)},
               {WavFormat::float32, "float 32-bit", 0.0}};
  for (const auto& c : cases) {
    const fs::path p = dir.path() / (std::string(c.name).substr(0, 5) + ".wav");
    write_wav(p, x, 16000, 1, c.format);
    const Audio a = read_wav(p);
    EXPECT_EQ(a.file_format, c.name);
    ASSERT_EQ(a.samples.size(), x.size()) << c.name;
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::abs(double{a.samples[i]} - x[i]));
    EXPECT_LE(worst, c.step) << c.name;
  }
}

TEST(AudioWav, StereoIsMixedDownToTheChannelMean) {
  test::TempDir dir;
  const std::vector<float> s = sine(500, 0.4, 16000, 0.1);
  std::vector<float> interleaved;
  for (float v : s) {
    interleaved.push_back(v);          // left: the tone
    interleaved.push_back(0.25f - v);  // right: a constant minus the tone
  }
  write_wav(dir.path() / "st.wav", interleaved, 16000, 2, WavFormat::float32);
  const Audio a = read_wav(dir.path() / "st.wav");
  EXPECT_EQ(a.file_channels, 2);
  ASSERT_EQ(a.samples.size(), s.size());
  for (float v : a.samples) ASSERT_NEAR(v, 0.125f, 1e-6f);
}

// A 1 kHz tone at 44.1 kHz and at 8 kHz comes out at 16 kHz with its frequency, its length in
// seconds and its level (libsamplerate's sinc converter passes 1 kHz flat).
TEST(AudioWav, ResamplingKeepsATonesFrequencyAndLevel) {
  test::TempDir dir;
  for (int rate : {44100, 8000, 22050}) {
    const fs::path p = dir.path() / ("r" + std::to_string(rate) + ".wav");
    write_wav(p, sine(1000, 0.5, rate, 0.5), rate, 1, WavFormat::float32);
    const Audio a = read_wav(p);
    EXPECT_EQ(a.file_rate, rate);
    EXPECT_NEAR(static_cast<double>(a.samples.size()), 8000.0, 2.0) << rate;
    // Away from the ends (the filter's edge transients).
    EXPECT_NEAR(tone_frequency(a.samples, 16000, 800, 7200), 1000.0, 0.5) << rate;
    EXPECT_NEAR(rms(a.samples, 800, 7200), 0.5 / std::sqrt(2.0), 0.002) << rate;
  }
  expect_error([] { resample(std::vector<float>(4), 0, 16000); }, ErrorKind::invalid, {"rates"});
}

TEST(AudioWav, MissingNonWavTruncatedAndEmptyFilesAreClearErrors) {
  test::TempDir dir;
  const fs::path missing = dir.path() / "none.wav";
  expect_error([&] { read_wav(missing); }, ErrorKind::io, {missing.string(), "no such file"});

  const fs::path text = dir.path() / "notes.wav";
  std::ofstream(text) << "this is not audio, just text pretending to be a WAV file\n";
  expect_error([&] { read_wav(text); }, ErrorKind::parse, {text.string(), "not a WAV file"});

  // A whole 16-bit file cut to 60 % of its length: the header still declares every sample.
  const fs::path cut = dir.path() / "cut.wav";
  write_wav(cut, sine(440, 0.5, 16000, 1.0), 16000);
  fs::resize_file(cut, fs::file_size(cut) * 6 / 10);
  expect_error([&] { read_wav(cut); }, ErrorKind::parse, {cut.string(), "truncated"});

  // Cut inside the header.
  const fs::path stub = dir.path() / "stub.wav";
  write_wav(stub, sine(440, 0.5, 16000, 0.1), 16000);
  fs::resize_file(stub, 30);
  expect_error([&] { read_wav(stub); }, ErrorKind::parse, {stub.string()});

  const fs::path empty = dir.path() / "empty.wav";
  write_wav(empty, {}, 16000);
  expect_error([&] { read_wav(empty); }, ErrorKind::parse, {empty.string(), "no audio"});

  const size_t limit = max_tensor_bytes();
  const fs::path big = dir.path() / "big.wav";
  write_wav(big, sine(440, 0.5, 16000, 1.0), 16000);
  set_max_tensor_bytes(1000);  // 250 samples
  expect_error([&] { read_wav(big); }, ErrorKind::limit, {big.string(), "limit"});
  set_max_tensor_bytes(limit);
}

// ---------------------------------------------------------------------------------------------
// MFCC

TEST(Mfcc, FramesFollowPythonSpeechFeatures) {
  const Mfcc m;
  EXPECT_EQ(m.frames(16000), 49);  // 1 + ceil((16000 - 640) / 320)
  EXPECT_EQ(m.frames(16001), 50);
  EXPECT_EQ(m.frames(640), 1);
  EXPECT_EQ(m.frames(10), 1);
  EXPECT_EQ(m.compute(std::vector<float>(16000)).size(), 490u);
}

// All-zero audio: every mel energy is replaced by DBL_EPSILON, so the log spectrum is flat: the
// DCT leaves only coefficient 0, which the frame energy log(DBL_EPSILON) replaces.
TEST(Mfcc, SilenceGivesTheReferencesEpsilonFloor) {
  const std::vector<float> f = Mfcc().compute(std::vector<float>(16000, 0.0f));
  for (size_t i = 0; i < f.size(); ++i) {
    if (i % 10 == 0)
      ASSERT_NEAR(f[i], std::log(DBL_EPSILON), 1e-5);
    else
      ASSERT_NEAR(f[i], 0.0, 1e-5);
  }
}

// Scaling the signal by g multiplies every power by g^2: the log mel spectrum shifts by a
// constant, which only the DCT's coefficient 0 sees, and the energy coefficient moves by log g^2.
TEST(Mfcc, GainMovesOnlyTheEnergyCoefficient) {
  std::vector<float> x(16000);
  RandomStream(3, {1}).normal(x.data(), x.size());
  for (float& v : x) v *= 0.05f;
  std::vector<float> y(x);
  for (float& v : y) v *= 4.0f;
  const Mfcc m;
  const std::vector<float> a = m.compute(x), b = m.compute(y);
  for (size_t i = 0; i < a.size(); ++i) {
    if (i % 10 == 0)
      ASSERT_NEAR(b[i] - a[i], std::log(16.0), 1e-4) << i;
    else
      ASSERT_NEAR(b[i], a[i], 1e-3) << i;
  }
}

// A tone's energy lands in the mel filters around its frequency: for tones at 500 Hz and 3 kHz
// the second coefficient (the spectrum's tilt) has opposite signs.
TEST(Mfcc, LowAndHighTonesTiltTheSpectrumOppositeWays) {
  const Mfcc m;
  const std::vector<float> lo = m.compute(sine(500, 0.3, 16000, 1.0));
  const std::vector<float> hi = m.compute(sine(3000, 0.3, 16000, 1.0));
  EXPECT_GT(lo[10 * 20 + 1], 0.0f);
  EXPECT_LT(hi[10 * 20 + 1], 0.0f);
}

// One Mfcc used from several threads gives the same bits as one thread.
TEST(Mfcc, ConcurrentUseGivesTheSameBits) {
  const Mfcc m;
  std::vector<std::vector<float>> inputs(4, std::vector<float>(16000));
  for (size_t k = 0; k < inputs.size(); ++k) RandomStream(9, {k}).normal(inputs[k].data(), 16000);
  std::vector<std::vector<float>> serial, parallel(inputs.size());
  for (const auto& x : inputs) serial.push_back(m.compute(x));
  std::vector<std::thread> threads;
  for (size_t k = 0; k < inputs.size(); ++k)
    threads.emplace_back([&, k] { parallel[k] = m.compute(inputs[k]); });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(serial, parallel);
}

TEST(Mfcc, OpsPerFrameAndBadConfigs) {
  const FrontEndOps o = Mfcc().ops_per_frame();
  EXPECT_EQ(o.fft, 25600);  // 2.5 x 1024 x log2(1024)
  EXPECT_EQ(o.dct, 2 * 10 * 40);
  EXPECT_EQ(o.log, 41 * kLogLaneOps);
  EXPECT_EQ(o.window, 640);
  EXPECT_EQ(o.power, 3 * 513);
  EXPECT_GT(o.mel, 0);
  EXPECT_LT(o.mel, 2 * 40 * 513);  // the filters are sparse
  MfccConfig c;
  c.window = 2048;
  expect_error([&] { Mfcc bad(c); }, ErrorKind::invalid, {"window"});
  c = MfccConfig{};
  c.high_hz = 9000;
  expect_error([&] { Mfcc bad(c); }, ErrorKind::invalid, {"high_hz"});
  c = MfccConfig{};
  c.coefficients = 41;
  expect_error([&] { Mfcc bad(c); }, ErrorKind::invalid, {"coefficients"});
}

// ---------------------------------------------------------------------------------------------
// Voice-activity gate

// 2 s of -70 dBFS noise with a 0.2 s tone (-13 dBFS mean square) from 0.6 s: the gate opens on
// the tone's 10 frames and stays open `hangover` frames after; silence keeps it closed.
TEST(Vad, OpensOnLoudFramesAndHoldsForTheHangover) {
  std::vector<float> x(32000);
  RandomStream(4, {2}).normal(x.data(), x.size());
  for (float& v : x) v *= 3e-4f;  // -70 dBFS
  const std::vector<float> tone = sine(700, 0.3, 16000, 0.2);
  std::copy(tone.begin(), tone.end(), x.begin() + 9600);
  VadOptions o;
  o.hangover = 20;
  const std::vector<bool> g = vad_gate(x, o);
  ASSERT_EQ(g.size(), 100u);
  // Voice in frames 30..39 (samples 9600..12799), then 20 frames of hangover.
  for (size_t f = 0; f < g.size(); ++f) EXPECT_EQ(g[f], f >= 30 && f <= 59) << "frame " << f;
  EXPECT_DOUBLE_EQ(vad_duty_cycle(g), 30.0 / 100);
  EXPECT_EQ(vad_ops_per_frame(o).vad, 2 * 320 + kLogLaneOps + 5);
  EXPECT_DOUBLE_EQ(vad_duty_cycle(vad_gate(std::vector<float>(16000), o)), 0.0);
  // Loud stationary noise (-30 dBFS) does not open it; a word 10 dB above it does.
  std::vector<float> loud(32000);
  RandomStream(4, {3}).normal(loud.data(), loud.size());
  for (float& v : loud) v *= 0.0316f;
  EXPECT_DOUBLE_EQ(vad_duty_cycle(vad_gate(loud, o)), 0.0);
  const std::vector<float> word = sine(700, 0.0316 * std::sqrt(2.0) * std::sqrt(10.0), 16000, 0.2);
  for (size_t i = 0; i < word.size(); ++i) loud[16000 + i] += word[i];
  const std::vector<bool> h = vad_gate(loud, o);
  EXPECT_TRUE(h[50] && h[59] && h[79] && !h[49] && !h[80]);
  expect_error([] { vad_gate(std::vector<float>(10), {.frame = 0}); }, ErrorKind::invalid,
               {"frame"});
}

}  // namespace
}  // namespace acim
