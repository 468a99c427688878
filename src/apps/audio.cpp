// WAV files (libsndfile), resampling (libsamplerate), MFCC (FFTW) and the voice-activity gate.
#include "acim/audio.hpp"

#include <fftw3.h>
#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <numbers>

#include "acim/error.hpp"
#include "acim/tensor.hpp"

namespace acim {

namespace {

// FFTW's planner is not thread-safe (only fftw_execute is): every plan is made and destroyed
// under this lock.
std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

std::string sample_format_name(int format) {
  switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_U8:
      return "PCM 8-bit (unsigned)";
    case SF_FORMAT_PCM_S8:
      return "PCM 8-bit";
    case SF_FORMAT_PCM_16:
      return "PCM 16-bit";
    case SF_FORMAT_PCM_24:
      return "PCM 24-bit";
    case SF_FORMAT_PCM_32:
      return "PCM 32-bit";
    case SF_FORMAT_FLOAT:
      return "float 32-bit";
    case SF_FORMAT_DOUBLE:
      return "float 64-bit";
    case SF_FORMAT_ULAW:
      return "mu-law";
    case SF_FORMAT_ALAW:
      return "A-law";
    default:
      return "encoded";
  }
}

// Closes the file on every path out.
struct SndFile {
  SNDFILE* f = nullptr;
  ~SndFile() {
    if (f != nullptr) sf_close(f);
  }
};

}  // namespace

Audio read_wav(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorKind::io, where, "cannot be opened (no such file)", "check the path");
  SF_INFO info{};
  SndFile file;
  file.f = sf_open(path.c_str(), SFM_READ, &info);
  if (file.f == nullptr)
    throw Error(ErrorKind::parse, where,
                std::string("is not a WAV file (libsndfile: ") + sf_strerror(nullptr) + ")",
                "give a 16 kHz mono WAV file, or convert it: sox IN -r 16000 -c 1 OUT.wav");
  if (info.frames <= 0 || info.channels <= 0 || info.samplerate <= 0)
    throw Error(ErrorKind::parse, where, "holds no audio samples",
                "give a WAV file with at least one sample");
  // libsndfile sizes a truncated file by what is there and notes it in its log as
  // "data : DECLARED (should be FOUND)". A declared length of 0 or 0xFFFFFFFF is a streaming
  // writer's "unknown", not a truncation.
  char log[4096] = {};
  sf_command(file.f, SFC_GET_LOG_INFO, log, sizeof log);
  if (const char* data = std::strstr(log, "\ndata : ")) {
    long long declared = 0, found = 0;
    if (std::sscanf(data, "\ndata : %lld (should be %lld)", &declared, &found) == 2 &&
        declared > found && declared != 0xFFFFFFFFLL)
      throw Error(ErrorKind::parse, where,
                  "is truncated: its header declares " + std::to_string(declared) +
                      " bytes of audio, the file holds " + std::to_string(found),
                  "re-create or re-download the file");
  }
  const size_t channels = static_cast<size_t>(info.channels);
  const double bytes =
      static_cast<double>(info.frames) * static_cast<double>(channels) * sizeof(float);
  if (bytes > static_cast<double>(max_tensor_bytes()))
    throw Error(ErrorKind::limit, where,
                "holds " + std::to_string(info.frames) + " frames of " + std::to_string(channels) +
                    " channels, more than the tensor size limit allows",
                "cut the recording, or raise the limit (acim --max-tensor-mb)");
  std::vector<float> interleaved(static_cast<size_t>(info.frames) * channels);
  const sf_count_t got = sf_readf_float(file.f, interleaved.data(), info.frames);
  if (got != info.frames)
    throw Error(ErrorKind::parse, where,
                "is truncated: " + std::to_string(got) + " of " + std::to_string(info.frames) +
                    " frames could be read",
                "re-create or re-download the file");
  Audio a;
  a.file_rate = info.samplerate;
  a.file_channels = info.channels;
  a.file_format = sample_format_name(info.format);
  std::vector<float> mono(static_cast<size_t>(info.frames));
  for (size_t i = 0; i < mono.size(); ++i) {
    double s = 0;
    for (size_t c = 0; c < channels; ++c) s += interleaved[i * channels + c];
    mono[i] = static_cast<float>(s / static_cast<double>(channels));
  }
  a.samples = info.samplerate == kAudioSampleRate
                  ? std::move(mono)
                  : resample(mono, info.samplerate, kAudioSampleRate);
  return a;
}

void write_wav(const std::filesystem::path& path, std::span<const float> interleaved, int rate,
               int channels, WavFormat format) {
  if (rate <= 0 || channels <= 0 || interleaved.size() % static_cast<size_t>(channels) != 0)
    throw Error(ErrorKind::invalid, path.string(),
                "bad WAV layout: rate " + std::to_string(rate) + ", " + std::to_string(channels) +
                    " channels, " + std::to_string(interleaved.size()) + " samples",
                "give a positive rate and a whole number of frames");
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  const int sub = format == WavFormat::pcm8    ? SF_FORMAT_PCM_U8
                  : format == WavFormat::pcm16 ? SF_FORMAT_PCM_16
                  : format == WavFormat::pcm24 ? SF_FORMAT_PCM_24
                                               : SF_FORMAT_FLOAT;
  info.format = SF_FORMAT_WAV | sub;
  // Written beside the target and renamed into place: an error leaves no half-written file.
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::string failure;
  {
    SndFile file;
    file.f = sf_open(tmp.c_str(), SFM_WRITE, &info);
    if (file.f == nullptr)
      throw Error(ErrorKind::io, path.string(),
                  std::string("cannot be written (libsndfile: ") + sf_strerror(nullptr) + ")",
                  "check that the folder exists and is writable");
    sf_command(file.f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
    const sf_count_t frames = static_cast<sf_count_t>(interleaved.size()) / channels;
    if (sf_writef_float(file.f, interleaved.data(), frames) != frames)
      failure = std::string("could not be written (libsndfile: ") + sf_strerror(file.f) + ")";
  }  // closed here
  std::error_code ec;
  if (failure.empty()) std::filesystem::rename(tmp, path, ec);
  if (!failure.empty() || ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorKind::io, path.string(),
                failure.empty() ? "could not be renamed into place" : failure,
                "check the free space and that the folder is writable");
  }
}

std::vector<float> resample(std::span<const float> x, int from_rate, int to_rate) {
  if (from_rate <= 0 || to_rate <= 0)
    throw Error(ErrorKind::invalid, "resample",
                "rates must be positive (from " + std::to_string(from_rate) + " Hz to " +
                    std::to_string(to_rate) + " Hz)");
  if (from_rate == to_rate || x.empty()) return {x.begin(), x.end()};
  const double ratio = static_cast<double>(to_rate) / from_rate;
  std::vector<float> y(static_cast<size_t>(std::ceil(static_cast<double>(x.size()) * ratio)) + 1);
  SRC_DATA d{};
  d.data_in = x.data();
  d.input_frames = static_cast<long>(x.size());
  d.data_out = y.data();
  d.output_frames = static_cast<long>(y.size());
  d.src_ratio = ratio;
  const int err = src_simple(&d, SRC_SINC_BEST_QUALITY, 1);
  if (err != 0)
    throw Error(ErrorKind::invalid, "resample",
                std::string("libsamplerate failed: ") + src_strerror(err) + " (from " +
                    std::to_string(from_rate) + " Hz to " + std::to_string(to_rate) + " Hz)");
  y.resize(static_cast<size_t>(d.output_frames_gen));
  return y;
}

// ---------------------------------------------------------------------------------------------
// MFCC

struct Mfcc::Plan {
  fftw_plan fft = nullptr;
  std::vector<double> window;  // numpy.hamming(window)
  struct Filter {
    int first = 0;                // first FFT bin with a non-zero weight
    std::vector<double> weights;  // from `first` on, 1/nfft of powspec folded in
  };
  std::vector<Filter> filters;
  std::vector<double> dct;     // [coefficients x filters], orthonormal DCT-II, lifter folded in
  int64_t filter_weights = 0;  // non-zero weights (the mel stage's MACs)
};

namespace {

double hz_to_mel(double hz) {
  return 2595 * std::log10(1 + hz / 700.);
}
double mel_to_hz(double mel) {
  return 700 * (std::pow(10.0, mel / 2595.0) - 1);
}

void check_config(const MfccConfig& c) {
  auto bad = [](const std::string& field, const std::string& why) {
    throw Error(ErrorKind::invalid, "MFCC config '" + field + "'", why);
  };
  if (c.sample_rate <= 0) bad("sample_rate", "must be positive");
  if (c.window <= 0 || c.window > c.nfft) bad("window", "must be in 1 .. nfft");
  if (c.hop <= 0) bad("hop", "must be positive");
  if (c.nfft < 2 || (c.nfft & (c.nfft - 1)) != 0) bad("nfft", "must be a power of two");
  if (c.filters <= 0) bad("filters", "must be positive");
  if (c.coefficients <= 0 || c.coefficients > c.filters)
    bad("coefficients", "must be in 1 .. filters");
  if (c.low_hz < 0 || c.low_hz >= c.high_hz) bad("low_hz", "must be in 0 .. high_hz");
  if (c.high_hz > c.sample_rate / 2.0) bad("high_hz", "must not exceed half the sample rate");
  if (c.lifter < 0) bad("lifter", "must be >= 0");
}

}  // namespace

Mfcc::Mfcc(const MfccConfig& config) : config_(config), plan_(std::make_unique<Plan>()) {
  check_config(config_);
  const MfccConfig& c = config_;
  Plan& p = *plan_;
  // numpy.hamming(M): 0.54 - 0.46 cos(2 pi n / (M - 1)).
  p.window.resize(static_cast<size_t>(c.window));
  for (int n = 0; n < c.window; ++n)
    p.window[static_cast<size_t>(n)] =
        c.window == 1 ? 1.0 : 0.54 - 0.46 * std::cos(2 * std::numbers::pi * n / (c.window - 1));
  // python_speech_features.get_filterbanks: filter edges at FFT bins
  // floor((nfft + 1) * hz / rate) of nfilt + 2 points evenly spaced in mel (numpy.linspace).
  const double low = hz_to_mel(c.low_hz), high = hz_to_mel(c.high_hz);
  const int points = c.filters + 2;
  const double step = (high - low) / (points - 1);
  std::vector<double> bin(static_cast<size_t>(points));
  for (int i = 0; i < points; ++i) {
    const double mel = i == points - 1 ? high : low + i * step;
    bin[static_cast<size_t>(i)] = std::floor((c.nfft + 1) * mel_to_hz(mel) / c.sample_rate);
  }
  const int bins = c.nfft / 2 + 1;
  for (int j = 0; j < c.filters; ++j) {
    const double b0 = bin[static_cast<size_t>(j)], b1 = bin[static_cast<size_t>(j) + 1],
                 b2 = bin[static_cast<size_t>(j) + 2];
    Plan::Filter f;
    f.first = static_cast<int>(b0);
    for (int i = static_cast<int>(b0); i < static_cast<int>(b2) && i < bins; ++i) {
      const double w = i < static_cast<int>(b1) ? (i - b0) / (b1 - b0) : (b2 - i) / (b2 - b1);
      f.weights.push_back(w);
      p.filter_weights += w != 0;
    }
    p.filters.push_back(std::move(f));
  }
  // scipy.fftpack.dct(type=2, norm='ortho'), then python_speech_features.lifter.
  p.dct.resize(static_cast<size_t>(c.coefficients) * static_cast<size_t>(c.filters));
  const double n_f = c.filters;
  for (int k = 0; k < c.coefficients; ++k) {
    const double scale = k == 0 ? std::sqrt(1 / n_f) : std::sqrt(2 / n_f);
    const double lift =
        c.lifter > 0 ? 1 + (c.lifter / 2.) * std::sin(std::numbers::pi * k / c.lifter) : 1.0;
    for (int n = 0; n < c.filters; ++n)
      p.dct[static_cast<size_t>(k) * static_cast<size_t>(c.filters) + static_cast<size_t>(n)] =
          lift * scale * std::cos(std::numbers::pi * k * (2 * n + 1) / (2 * n_f));
  }
  double* in = fftw_alloc_real(static_cast<size_t>(c.nfft));
  fftw_complex* out = fftw_alloc_complex(static_cast<size_t>(bins));
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    p.fft = fftw_plan_dft_r2c_1d(c.nfft, in, out, FFTW_ESTIMATE);
  }
  fftw_free(in);
  fftw_free(out);
  ACIM_ASSERT(p.fft != nullptr, "FFTW could not plan a real FFT");
}

Mfcc::~Mfcc() {
  if (plan_ && plan_->fft != nullptr) {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftw_destroy_plan(plan_->fft);
  }
}

int64_t Mfcc::frames(int64_t samples) const {
  const int64_t w = config_.window, h = config_.hop;
  return samples <= w ? 1 : 1 + (samples - w + h - 1) / h;
}

std::vector<float> Mfcc::compute(std::span<const float> x) const {
  const MfccConfig& c = config_;
  const Plan& p = *plan_;
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t nframes = frames(n);
  const size_t bins = static_cast<size_t>(c.nfft / 2 + 1);
  // Pre-emphasis over the whole signal, as python_speech_features.sigproc.preemphasis.
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = i == 0 ? x[0] : x[i] - c.preemphasis * static_cast<double>(x[i - 1]);

  // This call's own FFT buffers (FFTW-aligned, as the plan's were): the plan is shared.
  struct Buffers {
    double* in;
    fftw_complex* out;
    ~Buffers() {
      fftw_free(in);
      fftw_free(out);
    }
  } buf{fftw_alloc_real(static_cast<size_t>(c.nfft)), fftw_alloc_complex(bins)};
  std::vector<double> power(bins), logmel(static_cast<size_t>(c.filters));
  std::vector<float> features(static_cast<size_t>(nframes) * static_cast<size_t>(c.coefficients));
  for (int64_t f = 0; f < nframes; ++f) {
    const int64_t start = f * c.hop;
    for (int64_t i = 0; i < c.nfft; ++i) {
      const int64_t s = start + i;
      buf.in[i] = i < c.window && s < n
                      ? y[static_cast<size_t>(s)] * p.window[static_cast<size_t>(i)]
                      : 0.0;
    }
    fftw_execute_dft_r2c(p.fft, buf.in, buf.out);
    double energy = 0;
    for (size_t k = 0; k < bins; ++k) {
      const double re = buf.out[k][0], im = buf.out[k][1];
      power[k] = (re * re + im * im) / c.nfft;
      energy += power[k];
    }
    for (size_t j = 0; j < p.filters.size(); ++j) {
      const Plan::Filter& fl = p.filters[j];
      double m = 0;
      for (size_t i = 0; i < fl.weights.size(); ++i)
        m += fl.weights[i] * power[static_cast<size_t>(fl.first) + i];
      logmel[j] = std::log(m == 0 ? DBL_EPSILON : m);
    }
    float* row = features.data() + f * c.coefficients;
    for (int k = 0; k < c.coefficients; ++k) {
      const double* d = p.dct.data() + static_cast<size_t>(k) * static_cast<size_t>(c.filters);
      double v = 0;
      for (int j = 0; j < c.filters; ++j) v += d[j] * logmel[static_cast<size_t>(j)];
      row[k] = static_cast<float>(v);
    }
    if (c.append_energy) row[0] = static_cast<float>(std::log(energy == 0 ? DBL_EPSILON : energy));
  }
  return features;
}

FrontEndOps Mfcc::ops_per_frame() const {
  const MfccConfig& c = config_;
  const int64_t bins = c.nfft / 2 + 1;
  const double log2n = std::log2(static_cast<double>(c.nfft));
  FrontEndOps o;
  o.preemphasis = 2 * int64_t{c.hop};  // a multiply and a subtract per new sample
  o.window = c.window;
  o.fft = static_cast<int64_t>(std::llround(2.5 * c.nfft * log2n));
  o.power = 3 * bins;  // two squares and an add (1/nfft folded into the mel weights)
  o.energy = c.append_energy ? bins : 0;
  o.mel = 2 * plan_->filter_weights;
  o.log = (c.filters + (c.append_energy ? 1 : 0)) * kLogLaneOps;
  o.dct = 2 * int64_t{c.coefficients} * c.filters;  // lifter folded into the DCT matrix
  // Buffer traffic in 16-bit words: the frame's samples; the real FFT as an nfft/2-point
  // complex FFT, log2(nfft/2) radix-2 passes plus the split pass, each reading and writing
  // nfft/2 complex pairs (log2(nfft) passes in all); the power spectrum (32-bit) written and
  // read; the coefficients written.
  const int64_t fft_bytes = std::llround(log2n) * (c.nfft / 2) * 4;
  o.buffer_read_bytes = 2 * int64_t{c.window} + fft_bytes + 4 * bins;
  o.buffer_write_bytes = 2 * int64_t{c.hop} + fft_bytes + 4 * bins + 2 * int64_t{c.coefficients};
  return o;
}

// ---------------------------------------------------------------------------------------------
// Voice-activity gate

std::vector<bool> vad_gate(std::span<const float> x, const VadOptions& o) {
  if (o.frame <= 0 || o.hangover < 0)
    throw Error(ErrorKind::invalid, "VAD options",
                "frame must be positive and hangover >= 0 (got frame " + std::to_string(o.frame) +
                    ", hangover " + std::to_string(o.hangover) + ")");
  const size_t frame = static_cast<size_t>(o.frame);
  const size_t frames = (x.size() + frame - 1) / frame;
  std::vector<bool> open(frames, false);
  int64_t since_voice = -1;  // frames since the last voice frame; -1: none yet
  double floor_db = 0;
  for (size_t f = 0; f < frames; ++f) {
    const size_t begin = f * frame, end = std::min(x.size(), begin + frame);
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += static_cast<double>(x[i]) * x[i];
    // Digital silence counts as -200 dBFS.
    const double level_db =
        10 * std::log10(std::max(sum / static_cast<double>(end - begin), 1e-20));
    if (f == 0) floor_db = level_db;
    const bool voice = level_db >= floor_db + o.margin_db && level_db >= o.min_dbfs;
    floor_db += (voice ? o.floor_rate_voice : o.floor_rate) * (level_db - floor_db);
    if (voice)
      since_voice = 0;
    else if (since_voice >= 0)
      ++since_voice;
    open[f] = since_voice >= 0 && since_voice <= o.hangover;
  }
  return open;
}

double vad_duty_cycle(const std::vector<bool>& gate) {
  if (gate.empty()) return 0;
  return static_cast<double>(std::count(gate.begin(), gate.end(), true)) /
         static_cast<double>(gate.size());
}

FrontEndOps vad_ops_per_frame(const VadOptions& options) {
  FrontEndOps o;
  o.vad = 2 * int64_t{options.frame} + kLogLaneOps + 5;
  o.buffer_read_bytes = 2 * int64_t{options.frame};
  return o;
}

}  // namespace acim
