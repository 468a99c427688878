// acim kws FILE.wav... [--chip edge-voice] [--model ONNX | --program FILE.acim]
// acim kws --eval DIR [--instances K] [--rate 50] [--duty-cycle F]
// acim kws --stream FILE.wav [--hop 0.25] [--threshold 0.5]
// Keyword spotting on WAV audio (include/acim/kws.hpp): the keyword and its confidence per clip
// on the float reference and on a simulated chip instance; accuracy on a labelled folder
// (DIR/<class>/*.wav) float vs chip instances at 0 s and 1 day after programming, with the
// energy per inference (network + MFCC front end), the always-on power behind the voice-activity
// gate and the same on the digital baseline; or detections with timestamps over a long
// recording. The model is compiled here (calibrated on the features of the given audio) unless
// --program gives a compiled one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/eval.hpp"
#include "acim/kws.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/report.hpp"
#include "acim/sim.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "progress.hpp"

namespace acim::cli {

namespace {

// The keyword spotter trained on acim's own spoken data set (zoo/kws/).
const char* const kDefaultModel = "zoo/kws/ds_cnn_kws.onnx";
constexpr int kCalibrationClips = 32;  // clips the compiler and the chip's ADCs calibrate on
constexpr double kDay = 86400;

struct KwsCliOptions {
  std::vector<std::string> files;
  std::string eval_dir, stream;
  std::string chip = "edge-voice";
  std::string model = kDefaultModel;
  std::string program;
  std::string calibrate;
  bool model_given = false, chip_given = false;
  int instances = 4;
  uint64_t seed = 1;
  int64_t instance = 0;
  std::string drift_time;
  double rate = 50;
  double duty_cycle = -1;
  double hop = 0.25;
  float threshold = 0.5f;
  double vad_margin_db = VadOptions{}.margin_db;
  bool json = false;
};

std::string class_name(int label) {
  return label >= 0 && label < static_cast<int>(kKwsClasses.size())
             ? std::string(kKwsClasses[static_cast<size_t>(label)])
             : "class " + std::to_string(label);
}

// Up to kCalibrationClips samples of `features`, evenly spread, one graph input set each.
std::vector<TensorMap> calibration_of(const Tensor& features, const std::string& input) {
  const int64_t n = features.dim(0);
  const int64_t k = std::min<int64_t>(n, kCalibrationClips);
  std::vector<TensorMap> c;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t row = i * n / k;
    c.push_back({{input, features.rows(row, row + 1)}});
  }
  return c;
}

// The compiled program: --program as stored, or --model compiled for --chip and calibrated on
// --calibrate's features, else on `features` (those of the audio at hand).
Program program_for(const KwsCliOptions& o, const Tensor& features) {
  if (!o.program.empty()) {
    if (o.model_given || o.chip_given)
      throw Error(ErrorKind::invalid, o.program,
                  "is a compiled program: its model and chip are fixed, so --model and --chip "
                  "do not apply",
                  "drop --model/--chip, or drop --program to compile the model here");
    return load_program(o.program);
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.model, ec))
    throw Error(ErrorKind::io, o.model, "does not exist",
                o.model_given ? "check the path"
                              : "train it (zoo/kws/) or give another model: --model "
                                "zoo/kws/ds_cnn_s.onnx");
  Graph g = load_onnx(o.model);
  if (g.inputs.size() != 1)
    throw Error(ErrorKind::shape, o.model,
                "has " + std::to_string(g.inputs.size()) + " inputs; a keyword model has one",
                "give a model with one input [N, 1, 49, 10] (MFCC)");
  const Tensor calibration = o.calibrate.empty() ? features : load_npy(o.calibrate);
  if (calibration.dtype() != DType::f32 || calibration.rank() != 4 ||
      !std::equal(features.shape().begin() + 1, features.shape().end(),
                  calibration.shape().begin() + 1))
    throw Error(ErrorKind::shape, o.calibrate,
                "holds " + dtype_name(calibration.dtype()) + shape_str(calibration.shape()) +
                    "; calibration features are float32[K" +
                    shape_str(Shape(features.shape().begin() + 1, features.shape().end()))
                        .replace(0, 1, ",") +
                    " (MFCC)",
                "give MFCC features of training clips (e.g. data/kws/calibrate.npy)");
  CompileOptions co;
  co.mapping.model = o.model;
  co.calibration_inputs = calibration_of(calibration, g.inputs[0].name);
  co.keep_calibration = kCalibrationClips;
  Program p = compile_program(std::move(g), chip_spec_from_name_or_file(o.chip), co);
  p.model = o.model;
  for (const std::string& w : p.warnings) std::cerr << "acim: warning: " << w << "\n";
  return p;
}

const std::string& input_name(const Program& p) {
  return p.graph.inputs.at(0).name;
}
const std::string& output_name(const Program& p) {
  return p.graph.outputs.at(0).name;
}

double drift_time_of(const KwsCliOptions& o, const Program& p) {
  return o.drift_time.empty() ? p.chip.array.time_since_programming_s
                              : parse_duration("--drift-time", o.drift_time);
}

// One line on stderr for audio the front end had to convert.
void note_conversion(const std::string& file, const Audio& a) {
  if (a.file_rate == kAudioSampleRate && a.file_channels == 1) return;
  std::cerr << "acim: note: " << file << ": " << a.file_rate << " Hz, " << a.file_channels
            << (a.file_channels == 1 ? " channel" : " channels")
            << (a.file_channels > 1 ? ", mixed down to mono" : "")
            << (a.file_rate != kAudioSampleRate ? ", resampled to 16 kHz" : "") << "\n";
}

int run_classify(const KwsCliOptions& o) {
  const Mfcc mfcc;
  std::vector<std::vector<float>> clips;
  for (const std::string& f : o.files) {
    Audio a = read_wav(f);
    note_conversion(f, a);
    clips.push_back(std::move(a.samples));
  }
  const Tensor x = kws_features(mfcc, clips);
  const Program program = program_for(o, x);
  const TensorMap in = {{input_name(program), x}};
  const std::vector<KwsPrediction> ref =
      kws_predictions(Executor(program.graph).run(in).at(output_name(program)));
  const double t = drift_time_of(o, program);
  ChipInstance chip(program,
                    {.seed = o.seed, .instance = o.instance, .time_since_programming_s = t});
  const std::vector<KwsPrediction> hw = kws_predictions(chip.run(in).at(output_name(program)));
  if (o.json) {
    nlohmann::json j = {{"model", program.model},
                        {"chip", program.chip.name},
                        {"seed", o.seed},
                        {"instance", o.instance},
                        {"time_since_programming_s", t},
                        {"files", nlohmann::json::array()}};
    for (size_t i = 0; i < o.files.size(); ++i)
      j["files"].push_back({{"file", o.files[i]},
                            {"float",
                             {{"keyword", class_name(ref[i].label)},
                              {"label", ref[i].label},
                              {"confidence", ref[i].confidence}}},
                            {"chip",
                             {{"keyword", class_name(hw[i].label)},
                              {"label", hw[i].label},
                              {"confidence", hw[i].confidence}}}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on chip '%s' (instance %lld, seed %llu, %g s after programming)\n",
              program.model.c_str(), program.chip.name.c_str(), static_cast<long long>(o.instance),
              static_cast<unsigned long long>(o.seed), t);
  for (size_t i = 0; i < o.files.size(); ++i)
    std::printf("%s  float: %-9s %.3f   chip: %-9s %.3f\n", o.files[i].c_str(),
                class_name(ref[i].label).c_str(), static_cast<double>(ref[i].confidence),
                class_name(hw[i].label).c_str(), static_cast<double>(hw[i].confidence));
  return 0;
}

int run_eval(const KwsCliOptions& o) {
  const Mfcc mfcc;
  const VadOptions vad{.margin_db = o.vad_margin_db};
  const KwsData data = kws_load_folder(o.eval_dir, mfcc, vad);
  const Program program = program_for(o, data.set.inputs);
  nlohmann::json j = {{"model", program.model},
                      {"chip", program.chip.name},
                      {"data", o.eval_dir},
                      {"samples", data.set.size()},
                      {"instances", o.instances},
                      {"seed", o.seed},
                      {"accuracy", nlohmann::json::array()}};
  Progress bar("kws eval");
  const double times[] = {0.0, kDay};
  std::vector<EvalResult> results;
  for (size_t k = 0; k < 2; ++k) {
    EvalOptions eo;
    eo.instances = o.instances;
    eo.seed = o.seed;
    eo.time_since_programming_s = times[k];
    eo.progress = [&bar, k](int64_t done, int64_t total) {
      bar.update(static_cast<int64_t>(k) * total + done, 2 * total);
    };
    results.push_back(evaluate(program, data.set, eo));
  }
  bar.finish();
  ReportOptions ro;
  ro.rate = o.rate;
  ro.activity_source = "calibration clips";
  const Report report = make_report(program, program.calibration_set, ro);
  const FrontEndCost fe = price_front_end(mfcc, vad, program.chip);
  const double duty = o.duty_cycle >= 0 ? o.duty_cycle : data.duty_cycle;
  const std::vector<KwsPowerRow> power = kws_power(report, program.chip, fe, duty);
  if (o.json) {
    for (size_t k = 0; k < 2; ++k)
      j["accuracy"].push_back({{"time_since_programming_s", times[k]},
                               {"float", results[k].float_accuracy},
                               {"chip_mean", results[k].mean},
                               {"chip_std", results[k].std},
                               {"chip", results[k].chip_accuracy}});
    j["rate"] = o.rate;
    j["duty_cycle"] = duty;
    j["duty_cycle_source"] = o.duty_cycle >= 0 ? "--duty-cycle" : "measured";
    j["front_end"] = {{"mfcc_lane_ops_per_frame", fe.mfcc.lane_ops()},
                      {"mfcc_pj_per_frame", fe.mfcc_pj},
                      {"mfcc_ns_per_frame", fe.mfcc_ns},
                      {"vad_pj_per_frame", fe.vad_pj},
                      {"frames_per_clip", fe.frames_per_clip}};
    j["power"] = nlohmann::json::array();
    for (const KwsPowerRow& r : power)
      j["power"].push_back({{"design", r.design},
                            {"network_pj", r.network_pj},
                            {"front_end_pj", r.front_end_pj},
                            {"vad_pj", r.vad_pj},
                            {"leakage_uw", r.leakage_uw},
                            {"average_uw", r.average_uw}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on chip '%s': %lld clips from %s, %d instance%s\n", program.model.c_str(),
              program.chip.name.c_str(), static_cast<long long>(data.set.size()),
              o.eval_dir.c_str(), o.instances, o.instances == 1 ? "" : "s");
  std::printf("\naccuracy (12 classes)      float      on chip (mean +- std)   drop\n");
  for (size_t k = 0; k < 2; ++k)
    std::printf("  %-23s %6.2f %%   %6.2f %% +- %5.2f       %5.2f points\n",
                k == 0 ? "0 s after programming" : "1 day after programming",
                100 * results[k].float_accuracy, 100 * results[k].mean, 100 * results[k].std,
                100 * (results[k].float_accuracy - results[k].mean));
  std::printf(
      "\nfront end per 20 ms frame on the digital unit: MFCC %lld lane-ops and %lld buffer "
      "bytes, %.3g nJ, %.3g us; VAD gate %.3g nJ\n",
      static_cast<long long>(fe.mfcc.lane_ops()),
      static_cast<long long>(fe.mfcc.buffer_read_bytes + fe.mfcc.buffer_write_bytes),
      fe.mfcc_pj * 1e-3, fe.mfcc_ns * 1e-3, fe.vad_pj * 1e-3);
  std::printf("always-on at %g inferences/s, VAD duty cycle %.2f (%s):\n", o.rate, duty,
              o.duty_cycle >= 0 ? "--duty-cycle" : "measured on these clips");
  std::printf("  %-22s %14s %14s %12s %12s\n", "design", "network/inf", "front end/inf", "leakage",
              "power");
  for (const KwsPowerRow& r : power)
    std::printf("  %-22s %11.4g uJ %11.4g nJ %9.3g uW %9.3g uW\n", r.design.c_str(),
                r.network_pj * 1e-6, r.front_end_pj * 1e-3, r.leakage_uw, r.average_uw);
  for (size_t i = 1; i < power.size(); ++i) {
    const double ratio = power[0].average_uw / power[i].average_uw;
    std::printf("  %s: %.2fx %s power than the %s\n", power[0].design.c_str(),
                ratio >= 1 ? ratio : 1 / ratio, ratio >= 1 ? "more" : "less",
                power[i].design.c_str());
  }
  return 0;
}

int run_stream(const KwsCliOptions& o) {
  const Mfcc mfcc;
  const Audio audio = read_wav(o.stream);
  note_conversion(o.stream, audio);
  KwsStreamOptions so;
  so.hop_s = o.hop;
  so.threshold = o.threshold;
  so.vad.margin_db = o.vad_margin_db;
  // Calibration: the 1 s windows at kCalibrationClips positions spread over the recording.
  std::vector<std::vector<float>> cal;
  const size_t n = audio.samples.size();
  for (int i = 0; i < kCalibrationClips; ++i) {
    const size_t begin =
        n > kKwsClipSamples ? i * (n - kKwsClipSamples) / (kCalibrationClips - 1) : 0;
    cal.emplace_back(
        audio.samples.begin() + static_cast<std::ptrdiff_t>(begin),
        audio.samples.begin() + static_cast<std::ptrdiff_t>(std::min(n, begin + kKwsClipSamples)));
    if (n <= kKwsClipSamples) break;
  }
  const Program program = program_for(o, kws_features(mfcc, cal));
  const double t = drift_time_of(o, program);
  const Executor reference(program.graph);
  ChipInstance chip(program,
                    {.seed = o.seed, .instance = o.instance, .time_since_programming_s = t});
  const std::string& in = input_name(program);
  const std::string& out = output_name(program);
  const KwsStreamResult ref = kws_stream(
      audio.samples, mfcc,
      [&](const Tensor& x) {
        return reference.run({{in, x}}).at(out);
      },
      so);
  const KwsStreamResult hw = kws_stream(
      audio.samples, mfcc,
      [&](const Tensor& x) {
        return chip.run({{in, x}}).at(out);
      },
      so);
  if (o.json) {
    auto list = [](const KwsStreamResult& r) {
      nlohmann::json a = nlohmann::json::array();
      for (const KwsDetection& d : r.detections)
        a.push_back({{"start_s", d.start_s},
                     {"end_s", d.end_s},
                     {"keyword", class_name(d.label)},
                     {"confidence", d.confidence}});
      return a;
    };
    nlohmann::json j = {{"file", o.stream},
                        {"seconds", audio.seconds()},
                        {"model", program.model},
                        {"chip", program.chip.name},
                        {"windows", hw.windows},
                        {"classified", hw.classified},
                        {"duty_cycle", hw.duty_cycle},
                        {"hop_s", o.hop},
                        {"threshold", o.threshold},
                        {"chip_detections", list(hw)},
                        {"float_detections", list(ref)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: %.2f s; %lld windows of 1 s every %g s, %lld classified (VAD duty cycle %.2f)\n",
              o.stream.c_str(), audio.seconds(), static_cast<long long>(hw.windows), o.hop,
              static_cast<long long>(hw.classified), hw.duty_cycle);
  std::printf(
      "%s on chip '%s' (instance %lld, %g s after programming); float reference alongside\n",
      program.model.c_str(), program.chip.name.c_str(), static_cast<long long>(o.instance), t);
  auto print = [](const char* who, const KwsStreamResult& r) {
    std::printf("%s: %zu detection%s\n", who, r.detections.size(),
                r.detections.size() == 1 ? "" : "s");
    for (const KwsDetection& d : r.detections)
      std::printf("  %7.2f - %7.2f s  %-6s %.3f\n", d.start_s, d.end_s, class_name(d.label).c_str(),
                  static_cast<double>(d.confidence));
  };
  print("chip", hw);
  print("float", ref);
  return 0;
}

int run_kws(const KwsCliOptions& o) {
  const int modes = !o.files.empty() + !o.eval_dir.empty() + !o.stream.empty();
  if (modes != 1)
    throw Error(ErrorKind::invalid, "acim kws",
                modes == 0 ? "needs WAV files, --eval DIR or --stream FILE.wav"
                           : "takes one of WAV files, --eval DIR and --stream FILE.wav",
                "e.g. acim kws clip.wav --model zoo/kws/ds_cnn_s.onnx");
  if (!o.files.empty()) return run_classify(o);
  if (!o.eval_dir.empty()) return run_eval(o);
  return run_stream(o);
}

}  // namespace

void add_kws_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<KwsCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "kws",
      "Keyword spotting on WAV audio: classify clips, evaluate a labelled folder (accuracy, "
      "energy, always-on power), or stream over a recording");
  cmd->add_option("files", opt->files, "WAV clips to classify (1 s each; longer ones are cut)");
  cmd->add_option("--eval", opt->eval_dir, "Labelled folder DIR/<class>/*.wav to evaluate");
  cmd->add_option("--stream", opt->stream, "A long WAV recording to slide a 1 s window over");
  CLI::Option* chip =
      cmd->add_option("--chip", opt->chip, "Chip preset or spec file")->capture_default_str();
  CLI::Option* model =
      cmd->add_option("--model", opt->model, "Keyword model (ONNX)")->capture_default_str();
  cmd->add_option("--program", opt->program,
                  "A compiled program (.acim) instead of --model/--chip");
  cmd->add_option("--calibrate", opt->calibrate,
                  "MFCC features [K,1,49,10] (.npy) to calibrate on (default: the audio given)");
  cmd->add_option("--instances", opt->instances, "Chip instances for --eval")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", opt->seed, "Seed of the chips' random draws")->capture_default_str();
  cmd->add_option("--instance", opt->instance, "Chip instance for clips and --stream")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--drift-time", opt->drift_time,
                  "Time since programming for clips and --stream, e.g. 1h, 1d (default: the "
                  "chip spec's; --eval reports 0 s and 1 day)");
  cmd->add_option("--rate", opt->rate, "Inferences per second for the always-on power")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--duty-cycle", opt->duty_cycle,
                  "Fraction of time the voice gate is open (default: measured on the audio)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--hop", opt->hop, "Seconds between --stream windows")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threshold", opt->threshold, "Confidence a --stream detection needs")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--vad-margin-db", opt->vad_margin_db,
                  "How far above the noise floor a 20 ms frame's level opens the voice gate")
      ->capture_default_str();
  cmd->add_flag("--json", opt->json, "Print machine-readable JSON");
  cmd->callback([opt, chip, model, &action] {
    opt->model_given = model->count() > 0;
    opt->chip_given = chip->count() > 0;
    action = [opt] { return run_kws(*opt); };
  });
}

}  // namespace acim::cli
