// Keyword spotting: features, predictions, labelled folders, streaming and the always-on cost.
#include "acim/kws.hpp"

#include <algorithm>
#include <cmath>

#include "acim/cost.hpp"
#include "acim/error.hpp"

namespace acim {

namespace fs = std::filesystem;

int kws_class_index(std::string_view name) {
  for (size_t i = 0; i < kKwsClasses.size(); ++i)
    if (kKwsClasses[i] == name) return static_cast<int>(i);
  return -1;
}

Tensor kws_features(const Mfcc& mfcc, const std::vector<std::vector<float>>& clips) {
  const int64_t frames = mfcc.frames(kKwsClipSamples);
  const int64_t coeffs = mfcc.config().coefficients;
  Tensor t(DType::f32, {static_cast<int64_t>(clips.size()), 1, frames, coeffs});
  float* out = t.data<float>();
  std::vector<float> clip(static_cast<size_t>(kKwsClipSamples));
  for (const std::vector<float>& c : clips) {
    const size_t n = std::min(c.size(), clip.size());
    std::copy_n(c.begin(), n, clip.begin());
    std::fill(clip.begin() + static_cast<std::ptrdiff_t>(n), clip.end(), 0.0f);
    const std::vector<float> f = mfcc.compute(clip);
    out = std::copy(f.begin(), f.end(), out);
  }
  return t;
}

std::vector<KwsPrediction> kws_predictions(const Tensor& logits) {
  if (logits.rank() != 2 || logits.dtype() != DType::f32)
    throw Error(ErrorKind::shape, "keyword model output",
                "is " + dtype_name(logits.dtype()) + shape_str(logits.shape()) +
                    ", not float32 [N, classes]",
                "give a model whose first output is the class logits [N, 12]");
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  std::vector<KwsPrediction> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * classes;
    const int64_t best = std::max_element(row, row + classes) - row;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k) sum += std::exp(static_cast<double>(row[k] - row[best]));
    p[static_cast<size_t>(i)] = {static_cast<int>(best), static_cast<float>(1.0 / sum)};
  }
  return p;
}

KwsData kws_load_folder(const fs::path& dir, const Mfcc& mfcc, const VadOptions& vad) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::io, dir.string(), "is not a folder",
                "give a folder of class folders: DIR/yes/*.wav, DIR/no/*.wav, ...");
  std::vector<std::pair<int, fs::path>> classes;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    const int label = kws_class_index(name);
    if (label < 0) {
      std::string all;
      for (std::string_view c : kKwsClasses) all += (all.empty() ? "" : " ") + std::string(c);
      throw Error(ErrorKind::invalid, e.path().string(), "is not a keyword class folder",
                  "name class folders after the classes: " + all);
    }
    classes.emplace_back(label, e.path());
  }
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw Error(ErrorKind::invalid, dir.string(), "holds no class folders",
                "give a folder of class folders: DIR/yes/*.wav, DIR/no/*.wav, ...");
  KwsData d;
  std::vector<std::vector<float>> clips;
  int64_t open = 0, frames = 0;
  for (const auto& [label, folder] : classes) {
    std::vector<fs::path> wavs;
    for (const fs::directory_entry& e : fs::directory_iterator(folder))
      if (e.is_regular_file() && e.path().extension() == ".wav") wavs.push_back(e.path());
    std::sort(wavs.begin(), wavs.end());
    for (const fs::path& w : wavs) {
      Audio a = read_wav(w);
      a.samples.resize(static_cast<size_t>(kKwsClipSamples), 0.0f);
      const std::vector<bool> gate = vad_gate(a.samples, vad);
      open += std::count(gate.begin(), gate.end(), true);
      frames += static_cast<int64_t>(gate.size());
      clips.push_back(std::move(a.samples));
      d.set.labels.push_back(label);
      d.set.files.push_back(w.string());
    }
  }
  if (clips.empty())
    throw Error(ErrorKind::invalid, dir.string(), "holds no .wav files in its class folders",
                "put 16 kHz mono WAV clips in DIR/<class>/");
  d.set.inputs = kws_features(mfcc, clips);
  d.duty_cycle = frames > 0 ? static_cast<double>(open) / static_cast<double>(frames) : 0.0;
  return d;
}

KwsStreamResult kws_stream(std::span<const float> audio, const Mfcc& mfcc,
                           const KwsClassifier& classify, const KwsStreamOptions& o) {
  if (!(o.window_s > 0)) throw Error(ErrorKind::invalid, "--window", "must be positive");
  if (!(o.hop_s > 0)) throw Error(ErrorKind::invalid, "--hop", "must be positive");
  const size_t window = static_cast<size_t>(std::llround(o.window_s * kAudioSampleRate));
  const size_t hop =
      std::max<size_t>(1, static_cast<size_t>(std::llround(o.hop_s * kAudioSampleRate)));
  const std::vector<bool> gate = vad_gate(audio, o.vad);
  KwsStreamResult r;
  r.duty_cycle = vad_duty_cycle(gate);
  r.windows = audio.size() <= window
                  ? 1
                  : 1 + static_cast<int64_t>((audio.size() - window + hop - 1) / hop);
  const size_t vf = static_cast<size_t>(o.vad.frame);
  // Windows the gate lets through, classified in batches.
  constexpr size_t kBatch = 64;
  std::vector<int64_t> index;
  std::vector<std::vector<float>> clips;
  std::vector<KwsPrediction> preds;
  auto flush = [&] {
    if (clips.empty()) return;
    const std::vector<KwsPrediction> p = kws_predictions(classify(kws_features(mfcc, clips)));
    preds.insert(preds.end(), p.begin(), p.end());
    clips.clear();
  };
  for (int64_t w = 0; w < r.windows; ++w) {
    const size_t begin = static_cast<size_t>(w) * hop;
    const size_t end = std::min(audio.size(), begin + window);
    bool open = false;
    for (size_t f = begin / vf; f < gate.size() && f * vf < end && !open; ++f) open = gate[f];
    if (!open) continue;
    index.push_back(w);
    clips.emplace_back(audio.begin() + static_cast<std::ptrdiff_t>(begin),
                       audio.begin() + static_cast<std::ptrdiff_t>(end));
    if (clips.size() == kBatch) flush();
  }
  flush();
  r.classified = static_cast<int64_t>(index.size());
  // Merge consecutive windows with the same keyword at or above the threshold.
  int64_t last_window = -2;
  for (size_t i = 0; i < index.size(); ++i) {
    const KwsPrediction& p = preds[i];
    if (p.label < kKwsFirstKeyword || p.confidence < o.threshold) continue;
    const double start =
        static_cast<double>(index[i]) * static_cast<double>(hop) / kAudioSampleRate;
    const double end = std::min(static_cast<double>(audio.size()) / kAudioSampleRate,
                                start + static_cast<double>(window) / kAudioSampleRate);
    if (!r.detections.empty() && index[i] == last_window + 1 &&
        r.detections.back().label == p.label) {
      KwsDetection& d = r.detections.back();
      d.end_s = end;
      d.confidence = std::max(d.confidence, p.confidence);
    } else {
      r.detections.push_back({start, end, p.label, p.confidence});
    }
    last_window = index[i];
  }
  return r;
}

FrontEndCost price_front_end(const Mfcc& mfcc, const VadOptions& vad, const ChipSpec& chip) {
  const DigitalUnitSpec& du = chip.core.digital;
  const BufferSpec& buf = chip.core.buffer;
  const CostScaleSpec& sc = chip.cost.scale;
  auto energy = [&](const FrontEndOps& o) {
    return static_cast<double>(o.lane_ops()) * du.op_energy_pj * sc.digital +
           (static_cast<double>(o.buffer_read_bytes) * buf.read_energy_pj_per_byte +
            static_cast<double>(o.buffer_write_bytes) * buf.write_energy_pj_per_byte) *
               sc.buffer;
  };
  auto time = [&](const FrontEndOps& o) {
    const int64_t lanes = std::max(du.vector_lanes, 1);
    return static_cast<double>((o.lane_ops() + lanes - 1) / lanes) * du.op_time_ns;
  };
  FrontEndCost c;
  c.mfcc = mfcc.ops_per_frame();
  c.vad = vad_ops_per_frame(vad);
  c.mfcc_pj = energy(c.mfcc);
  c.vad_pj = energy(c.vad);
  c.mfcc_ns = time(c.mfcc);
  c.vad_ns = time(c.vad);
  c.frames_per_clip = mfcc.frames(kKwsClipSamples);
  return c;
}

std::vector<KwsPowerRow> kws_power(const Report& report, const ChipSpec& chip,
                                   const FrontEndCost& fe, double duty_cycle) {
  if (!(duty_cycle >= 0 && duty_cycle <= 1))
    throw Error(ErrorKind::invalid, "--duty-cycle",
                "must be in [0, 1] (got " + std::to_string(duty_cycle) + ")");
  const double rate = report.rate;
  const double pj_per_s_to_uw = 1e-6;  // 1 pJ/s = 1e-12 W
  std::vector<KwsPowerRow> rows;
  KwsPowerRow a;
  a.design = report.chip + " (analog)";
  a.network_pj = report.cost.energy_pj();
  a.front_end_pj = fe.mfcc_pj;
  a.vad_pj = fe.vad_pj;
  a.leakage_uw = report.cost.leakage_uw;
  a.average_uw = report.cost.average_power_uw(duty_cycle * rate) +
                 (duty_cycle * rate * fe.mfcc_pj + rate * fe.vad_pj) * pj_per_s_to_uw;
  rows.push_back(a);
  const double chip_scale = energy_scale_from_45nm(chip.technology_nm, chip.supply_v);
  for (const BaselineComparison& b : report.baselines) {
    const double s = b.digital.scale / chip_scale;
    KwsPowerRow d;
    d.design = "digital NPU " + std::to_string(b.digital.technology_nm) + " nm";
    d.network_pj = b.digital.energy_pj();
    d.front_end_pj = fe.mfcc_pj * s;
    d.vad_pj = fe.vad_pj * s;
    d.leakage_uw = b.digital.leakage_uw;
    d.average_uw = b.digital.average_power_uw(duty_cycle * rate) +
                   (duty_cycle * rate * d.front_end_pj + rate * d.vad_pj) * pj_per_s_to_uw;
    rows.push_back(d);
  }
  return rows;
}

}  // namespace acim
