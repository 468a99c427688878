// acim info MODEL: per layer op, shapes, parameters and MACs; totals.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "acim/model_info.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
  bool raw = false;
  std::vector<std::string> dump_after;
  bool dump_dot = false;
};

nlohmann::json value_json(const ValueInfo& v) {
  return {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", v.shape}};
}

int run_info(const InfoOptions& opt) {
  Graph graph = load_onnx(opt.model);
  if (!opt.raw) {
    PassOptions passes;
    passes.dump_after = opt.dump_after;
    passes.dump = [&](const std::string& pass, const Graph& g) {
      std::cout << "--- after " << pass << " ---\n"
                << (opt.dump_dot ? graph_to_dot(g) : graph_to_text(g));
    };
    run_default_passes(graph, passes);
  }
  ModelInfo info = describe(graph);

  if (opt.json) {
    nlohmann::json j;
    j["model"] = opt.model;
    j["graph"] = info.name;
    j["opset"] = info.opset;
    for (const auto& v : info.inputs) j["inputs"].push_back(value_json(v));
    for (const auto& v : info.outputs) j["outputs"].push_back(value_json(v));
    j["layers"] = nlohmann::json::array();
    for (const auto& l : info.layers)
      j["layers"].push_back({{"name", l.name},
                             {"op", l.op},
                             {"input_shapes", l.input_shapes},
                             {"output_shapes", l.output_shapes},
                             {"params", l.params},
                             {"macs", l.macs}});
    j["total_params"] = info.total_params;
    j["total_macs"] = info.total_macs;
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  auto shapes = [](const std::vector<Shape>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + shape_str(v[i]);
    return s;
  };
  std::cout << "model  " << opt.model << "  (graph '" << info.name << "', opset " << info.opset
            << ")\n";
  for (const auto& v : info.inputs)
    std::cout << "input  " << v.name << "  " << dtype_name(v.dtype) << shape_str(v.shape) << "\n";
  for (const auto& v : info.outputs)
    std::cout << "output " << v.name << "  " << dtype_name(v.dtype) << shape_str(v.shape) << "\n";
  std::cout << "\n";
  Table t({"#", "layer", "op", "input", "output", "params", "MACs"},
          {true, false, false, false, false, true, true});
  for (size_t i = 0; i < info.layers.size(); ++i) {
    const auto& l = info.layers[i];
    t.add({std::to_string(i), l.name, l.op, shapes(l.input_shapes), shapes(l.output_shapes),
           with_commas(l.params), with_commas(l.macs)});
  }
  t.add_rule();
  t.add({"", "total", std::to_string(info.layers.size()) + " layers", "", "",
         with_commas(info.total_params), with_commas(info.total_macs)});
  std::cout << t.str();
  std::cout << "\n" << si(static_cast<double>(info.total_params)) << " parameters, "
            << si(static_cast<double>(info.total_macs)) << " MACs ("
            << si(2.0 * static_cast<double>(info.total_macs)) << " ops) per inference"
            << (info.inputs.empty() ? "" : " at batch 1") << "\n";
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Show a model's layers: op, shapes, parameters, multiply-accumulates (MACs)");
  cmd->add_option("model", opt->model, "ONNX model file (.onnx)")->required();
  cmd->add_flag("--json", opt->json, "Print machine-readable JSON instead of a table");
  cmd->add_flag("--raw", opt->raw,
                "Show the graph as imported, without the compile passes (BN folding, fusion)");
  cmd->add_option("--dump-after", opt->dump_after,
                  "Print the graph after this pass (repeatable; 'all' for every pass)");
  cmd->add_flag("--dot", opt->dump_dot, "With --dump-after: print Graphviz dot instead of text");
  cmd->callback([opt, &action] { action = [opt] { return run_info(*opt); }; });
}

}  // namespace acim::cli
