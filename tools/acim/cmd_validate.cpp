// acim validate [--chip NAME] [--json]: the published figures of the chips the presets
// re-describe beside the cost model's estimates from the presets (include/acim/validate.hpp),
// with the error and a verdict per figure. A report: exit status 0 whatever the verdicts (the
// unit tests hold the goal); a chip without published figures is a user error.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "acim/validate.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct ValidateOptions {
  std::string chip;
  bool json = false;
};

// Four significant digits, trailing zeros dropped ("63.1", "0.744", "15.95", "192").
std::string sig4(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// "+5.2", "-1.0"; "+0.0" rather than "-0.0".
std::string signed_pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f", std::fabs(v) < 0.05 ? 0.0 : v);
  return buf;
}

int run_validate(const ValidateOptions& opt) {
  const std::vector<ValidationRow> rows = validate_presets(opt.chip);
  if (opt.json) {
    nlohmann::json j;
    j["tolerance_pct"] = kValidationTolerancePct;
    j["rows"] = nlohmann::json::array();
    for (const ValidationRow& r : rows) {
      const PublishedFigure& f = r.published;
      j["rows"].push_back({{"chip", f.chip},
                           {"figure", figure_name(f.figure)},
                           {"unit", figure_unit(f.figure)},
                           {"scope", figure_scope_name(f.scope)},
                           {"published", f.value},
                           {"estimated", r.estimated},
                           {"error_pct", r.error_pct},
                           {"within", r.within},
                           {"calibrated", f.calibrated},
                           {"input_bits", f.input_bits},    // 0: the preset's
                           {"output_bits", f.output_bits},  // 0: the preset's
                           {"conditions", f.conditions},
                           {"source", f.source},
                           {"verdict", r.verdict()}});
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  // Sources are long: the table numbers them and lists them below.
  std::vector<std::string> sources;
  auto source_id = [&sources](const std::string& s) {
    for (size_t i = 0; i < sources.size(); ++i)
      if (sources[i] == s) return i + 1;
    sources.push_back(s);
    return sources.size();
  };
  Table t({"chip", "figure", "conditions", "published", "estimated", "error %", "fit", "src",
           "verdict"},
          {false, false, false, true, true, true, false, true, false});
  int within = 0, counted = 0;
  for (const ValidationRow& r : rows) {
    const PublishedFigure& f = r.published;
    const std::string unit = " " + figure_unit(f.figure);
    t.add({f.chip, figure_name(f.figure) + " (" + figure_scope_name(f.scope) + ")", f.conditions,
           sig4(f.value) + unit, sig4(r.estimated) + unit, signed_pct(r.error_pct),
           f.calibrated ? "calibrated" : "predicted",
           "[" + std::to_string(source_id(f.source)) + "]",
           r.within ? "ok" : (f.miss_reason.empty() ? r.verdict() : "MISS (explained)")});
    if (f.miss_reason.empty()) {
      ++counted;
      within += r.within;
    }
  }
  std::cout << t.str() << "\n"
            << within << " of " << counted << " figures within +/-"
            << sig4(kValidationTolerancePct) << " % (explained misses not counted).\n"
            << "scope: analog = the MVM datapath (array, DAC, ADC, shift-add); chip = everything "
               "the cost model prices, leakage included.\n";
  bool any_miss = false;
  for (const ValidationRow& r : rows)
    if (!r.within && !r.published.miss_reason.empty()) {
      if (!any_miss) std::cout << "\nExplained misses:\n";
      any_miss = true;
      std::cout << "  " << r.published.chip << " " << figure_name(r.published.figure) << ": "
                << r.published.miss_reason << "\n";
    }
  std::cout << "\nSources:\n";
  for (size_t i = 0; i < sources.size(); ++i)
    std::cout << "  [" << i + 1 << "] " << sources[i] << "\n";
  return 0;
}

}  // namespace

void add_validate_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Compare the published chips' figures (TOPS, TOPS/W, power, density) with the cost "
      "model's estimates from their presets");
  cmd->add_option("--chip", opt->chip, "Only this preset (default: every published chip)");
  cmd->add_flag("--json", opt->json, "Print the table as JSON");
  cmd->callback([opt, &action] { action = [opt] { return run_validate(*opt); }; });
}

}  // namespace acim::cli
