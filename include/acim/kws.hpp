// Keyword spotting end to end: WAV clips -> MFCC (include/acim/audio.hpp) -> a 12-class model on
// the float reference or a simulated chip instance -> keyword and confidence; a labelled folder
// of clips; a sliding window over a long recording behind the voice-activity gate; and what it
// all costs: the network (include/acim/cost.hpp, report.hpp), the front end on the chip's
// digital unit, and the always-on average power with the gate's duty cycle, against the digital
// baseline.
//
// Conventions shared with the data set and the training script: 16 kHz mono clips of exactly
// 1 s (zero-padded or cut), classes in kKwsClasses order, the model's input [N, 1, 49, 10] raw
// MFCCs (kMfccKws; any normalisation is inside the ONNX graph), its output [N, 12] logits.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acim/audio.hpp"
#include "acim/chip.hpp"
#include "acim/eval.hpp"
#include "acim/report.hpp"
#include "acim/tensor.hpp"

namespace acim {

inline constexpr std::array<std::string_view, 12> kKwsClasses = {
    "_silence_", "_unknown_", "yes", "no",  "up",   "down",
    "left",      "right",     "on",  "off", "stop", "go"};
inline constexpr int kKwsFirstKeyword = 2;  // labels below are silence and unknown words
inline constexpr int kKwsClipSamples = kAudioSampleRate;  // 1 s

// Index of a class name in kKwsClasses, -1 when it is none.
int kws_class_index(std::string_view name);

// Features of N clips, [N, 1, frames, coefficients] float32, each clip cut or zero-padded to
// kKwsClipSamples first (49 x 10 with kMfccKws).
Tensor kws_features(const Mfcc& mfcc, const std::vector<std::vector<float>>& clips);

struct KwsPrediction {
  int label = 0;
  float confidence = 0;  // softmax probability of `label`
};
// Argmax and softmax of every row of [N, classes] logits.
std::vector<KwsPrediction> kws_predictions(const Tensor& logits);

// A labelled folder DIR/<class>/*.wav, class folders named as kKwsClasses (any subset; files in
// name order, classes in label order). Error naming the folder when it holds no class folder or
// no WAV file, or a sub-folder that is no class; every WAV error names its file.
struct KwsData {
  LabelledSet set;        // features and labels; set.files the WAV paths
  double duty_cycle = 0;  // of the voice-activity gate over all clips (each cut to 1 s)
};
KwsData kws_load_folder(const std::filesystem::path& dir, const Mfcc& mfcc, const VadOptions& vad);

// ---------------------------------------------------------------------------------------------
// Streaming

struct KwsStreamOptions {
  double window_s = 1.0;
  double hop_s = 0.25;
  float threshold = 0.5f;  // a keyword's confidence must reach this to count as a detection
  VadOptions vad;
};

struct KwsDetection {
  double start_s = 0, end_s = 0;  // of the first and last window that saw it
  int label = 0;
  float confidence = 0;  // the highest of those windows
};

struct KwsStreamResult {
  std::vector<KwsDetection> detections;
  int64_t windows = 0;     // window positions
  int64_t classified = 0;  // of them, classified: the gate was open in one of their frames
  double duty_cycle = 0;   // of the gate over the recording
};

// Features [N, 1, frames, coefficients] -> logits [N, classes] (the float reference or a chip).
using KwsClassifier = std::function<Tensor(const Tensor& features)>;

// Slides a window_s window by hop_s over `audio` (a recording shorter than one window is one
// zero-padded window), classifies the windows the gate lets through, and merges consecutive
// windows with the same keyword at or above the threshold into one detection.
// Error(invalid) naming the option for a non-positive window or hop.
KwsStreamResult kws_stream(std::span<const float> audio, const Mfcc& mfcc,
                           const KwsClassifier& classify, const KwsStreamOptions& options);

// ---------------------------------------------------------------------------------------------
// Cost

// The front end priced on the chip's digital unit (core.digital: op_energy_pj per lane-op,
// op_time_ns per vector op of vector_lanes lanes) and core buffer (per-byte read/write energies),
// per 20 ms frame. In streaming, each inference at 50 per second needs one new MFCC frame; a cold
// 1 s clip needs frames_per_clip.
struct FrontEndCost {
  FrontEndOps mfcc, vad;  // per frame
  double mfcc_pj = 0, vad_pj = 0;
  double mfcc_ns = 0, vad_ns = 0;
  int64_t frames_per_clip = 0;
};
FrontEndCost price_front_end(const Mfcc& mfcc, const VadOptions& vad, const ChipSpec& chip);

// One design's always-on figures.
struct KwsPowerRow {
  std::string design;       // "edge-voice (analog)", "digital NPU 22 nm", ...
  double network_pj = 0;    // per inference
  double front_end_pj = 0;  // per inference: one new MFCC frame
  double vad_pj = 0;        // per gate frame
  double leakage_uw = 0;    // the chip's; a digital baseline's SRAM retention leakage
  double average_uw = 0;
};

// Always-on average power with the gate: the gate runs on every frame (frames_per_s = rate); the
// network and the MFCC frame run at `rate` while it is open (duty_cycle); leakage all the time:
//   P = leakage + duty x rate x (network dynamic + front end) + rate x VAD frame.
// Rows: the chip (from report.cost, leakage included, CostReport::average_power_uw), then each of
// report.baselines, its front end scaled from the chip's node and supply to the baseline's with
// energy_scale_from_45nm. Error(invalid) for a duty cycle outside [0, 1].
std::vector<KwsPowerRow> kws_power(const Report& report, const ChipSpec& chip,
                                   const FrontEndCost& front_end, double duty_cycle);

}  // namespace acim
