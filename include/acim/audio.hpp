// Audio front end for keyword spotting: WAV files in (libsndfile), mono float at 16 kHz out
// (libsamplerate for other rates), MFCC features on FFTW, an energy-based voice-activity gate,
// and the operations each of them costs per frame (priced on a chip's digital unit in
// include/acim/kws.hpp).
//
//   Audio a = read_wav("yes.wav");            // any rate, channels, PCM 8/16/24/32 or float
//   Mfcc mfcc;                                // the KWS front end (kMfccKws)
//   std::vector<float> f = mfcc.compute(a.samples);   // [frames x numcep], row-major
//   std::vector<bool> open = vad_gate(a.samples, {});   // one flag per 20 ms frame
//
// The MFCC is python_speech_features 0.6's mfcc() (its sigproc.framesig, powspec, get_filterbanks,
// lifter; scipy's orthonormal DCT-II), all in double precision on FFTW's double real transform:
// it matches the reference within 1e-5 (tests/python/check_mfcc.py; the contract is 1e-3). A
// single-precision FFT does not hold 1e-3 on every input: on a chirp sweeping past the 4 kHz top
// filter it was 1.5e-3 off (the rounding of the strong out-of-band bins swamps the weak in-band
// ones, and the lifter multiplies the error by up to 12).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace acim {

inline constexpr int kAudioSampleRate = 16000;  // every front-end computation runs at this rate

// A WAV file's samples as the front end takes them.
struct Audio {
  std::vector<float> samples;  // mono, kAudioSampleRate, in [-1, 1)
  int file_rate = 0;           // what the file held
  int file_channels = 0;
  std::string file_format;  // "PCM 16-bit", "PCM 8-bit (unsigned)", "float 32-bit", ...
  double seconds() const { return static_cast<double>(samples.size()) / kAudioSampleRate; }
};

// Reads any WAV libsndfile reads (PCM 8/16/24/32-bit, 32/64-bit float, A-law, mu-law...), mixes
// its channels down to mono (their mean) and resamples it to kAudioSampleRate (libsamplerate's
// best sinc converter, SRC_SINC_BEST_QUALITY). Errors naming the file: Error(io) when it cannot
// be opened, Error(parse) when it is not a WAV file, is truncated (fewer frames than its header
// declares) or holds no samples; Error(limit) when its samples would exceed max_tensor_bytes().
Audio read_wav(const std::filesystem::path& path);

// Sample formats write_wav can write.
enum class WavFormat { pcm8, pcm16, pcm24, float32 };

// Writes interleaved samples (`channels` per frame, in [-1, 1]) as a WAV file at `rate`,
// atomically (a temporary file beside it, then rename).
// Error(io) naming the path.
void write_wav(const std::filesystem::path& path, std::span<const float> interleaved, int rate,
               int channels = 1, WavFormat format = WavFormat::pcm16);

// `x` at `from_rate` resampled to `to_rate` (libsamplerate, SRC_SINC_BEST_QUALITY): a windowed-
// sinc band-limited interpolator, so a tone below both Nyquist rates keeps its frequency.
// Error(invalid) for a rate <= 0.
std::vector<float> resample(std::span<const float> x, int from_rate, int to_rate);

// ---------------------------------------------------------------------------------------------
// MFCC

struct MfccConfig {
  int sample_rate = kAudioSampleRate;
  int window = 640;  // samples (40 ms), Hamming-windowed
  int hop = 320;     // samples (20 ms)
  int nfft = 1024;   // FFT points (frames zero-padded)
  int filters = 40;  // mel filters
  int coefficients = 10;
  double low_hz = 20, high_hz = 4000;
  double preemphasis = 0.97;  // y[0] = x[0], y[n] = x[n] - a x[n-1] over the whole signal
  int lifter = 22;            // 0: none
  bool append_energy = true;  // coefficient 0 is the log of the frame's power-spectrum sum
};

// The keyword-spotting features of Hello Edge (Zhang et al., arXiv:1711.07128, 2017) and MLPerf
// Tiny, as the data set and the training script use them (scripts/make_kws_dataset.py,
// zoo/kws/train_kws.py): 40 ms window, 20 ms stride, 40 mel filters 20 Hz .. 4 kHz, 10
// coefficients, 49 frames per 1 s clip.
inline const MfccConfig kMfccKws{};

// Operations of one frame of a front-end stage, on a digital vector unit (lane-operations:
// one element of one vector operation) and its buffer (bytes of 16-bit words moved).
struct FrontEndOps {
  int64_t preemphasis = 0, window = 0, fft = 0, power = 0, energy = 0, mel = 0, log = 0;
  int64_t dct = 0;  // the lifter folded into the DCT matrix
  int64_t vad = 0;
  int64_t buffer_read_bytes = 0, buffer_write_bytes = 0;
  int64_t lane_ops() const {
    return preemphasis + window + fft + power + energy + mel + log + dct + vad;
  }
};

// A natural logarithm on a fixed-point vector unit, in lane-operations (assumed: normalise by a
// leading-zero count and shift, a 16-entry table look-up, a linear interpolation, and the
// exponent times ln 2 added back).
inline constexpr int64_t kLogLaneOps = 8;

// The MFCC front end. Holds its FFTW plan (made once with FFTW_ESTIMATE, not by timing candidates
// as FFTW_MEASURE does, so every run picks the same algorithm and gives the same bits), window,
// filterbank and DCT; compute() is thread-safe (each call executes the plan on its own buffers,
// fftw_execute_dft_r2c).
class Mfcc {
 public:
  // Error(invalid) naming the field for a config it cannot compute (window > nfft, hop <= 0,
  // high_hz above Nyquist, more coefficients than filters...).
  explicit Mfcc(const MfccConfig& config = kMfccKws);
  ~Mfcc();
  Mfcc(const Mfcc&) = delete;
  Mfcc& operator=(const Mfcc&) = delete;

  const MfccConfig& config() const { return config_; }
  // python_speech_features' frame count: 1 if n <= window, else 1 + ceil((n - window) / hop);
  // the last frame is zero-padded.
  int64_t frames(int64_t samples) const;
  // [frames(x.size()) x coefficients], row-major. An all-zero frame gives log(DBL_EPSILON) as the
  // reference does (it replaces zero energies by numpy's float eps).
  std::vector<float> compute(std::span<const float> x) const;
  // The operations of one frame (one new hop of samples; vad = 0, see vad_ops_per_frame).
  // FFT: 2.5 N log2 N real operations, the nominal count FFTW's own benchmarks use for a real
  // transform of N points (fftw.org/speed/method.html).
  FrontEndOps ops_per_frame() const;

 private:
  struct Plan;
  MfccConfig config_;
  std::unique_ptr<Plan> plan_;
};

// ---------------------------------------------------------------------------------------------
// Voice-activity gate

// An energy gate against an adaptive noise floor. A frame's level is its mean square in dBFS
// (10 log10 mean(x^2), 0 dB for a full-scale square wave). The floor starts at the first frame's
// level and moves toward each frame's level by floor_rate of the difference (floor_rate_voice in
// voice frames, so a word barely lifts it but a lasting louder noise is learnt within seconds). A
// frame is voice when its level is at least margin_db above the floor and at least min_dbfs. The
// gate opens at a voice frame and stays open for `hangover` frames after the last one, so the 1 s
// window that holds a whole word is still classified after the word ends.
// Why adaptive: in data/kws/test (as generated on 2026-11-26) the loudest frame of a silence
// (background noise) clip is -36 dBFS in the median, while the quietest word clip peaks at
// -32 dBFS, so no fixed level separates them; and a floor that tracks the minimum level sits
// below brown noise's 20 ms fluctuations and opened on 44 % of examples/kws/stream.wav's
// frames between words. These defaults found voice in 1,097 of the 1,100 keyword and
// unknown-word test clips (each gated on its own, the floor starting at its first frame), in
// 0.4 % of the silence clips' frames, and in none of stream.wav's frames between words.
struct VadOptions {
  int frame = 320;  // 20 ms at 16 kHz
  double margin_db = 6;
  double min_dbfs = -60;
  double floor_rate = 0.05;        // per frame: a time constant of 20 frames (0.4 s)
  double floor_rate_voice = 0.02;  // 50 frames (1 s)
  int hangover = 50;               // frames (1 s)
};

// Gate state per frame (frames = ceil(n / frame); the last one may be short).
std::vector<bool> vad_gate(std::span<const float> x, const VadOptions& options = {});
// Fraction of open frames (0 for no frames).
double vad_duty_cycle(const std::vector<bool>& gate);
// Operations of the gate per frame: a square and an add per sample, a logarithm (kLogLaneOps), two
// compares, and the floor's subtract, multiply and add.
FrontEndOps vad_ops_per_frame(const VadOptions& options);

}  // namespace acim
