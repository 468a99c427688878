#include "acim/executor.hpp"

#include <set>

#include "ops/op.hpp"

namespace acim {

std::vector<std::string> supported_ops() {
  std::vector<std::string> r;
  for (auto s : ops::supported_op_types()) r.emplace_back(s);
  return r;
}

void check_ops_supported(const Graph& graph) {
  std::map<std::string, std::vector<std::string>> missing;  // op type -> node names
  auto check = [&](const Node& n) {
    if (!ops::find_op(n.op_type)) missing[n.op_type].push_back(n.name);
  };
  for (const auto& n : graph.nodes) {
    check(n);
    for (const auto& f : n.fused) check(f);
  }
  if (missing.empty()) return;
  std::string what = "unsupported ops: ";
  bool first = true;
  for (const auto& [op, names] : missing) {
    what += (first ? "" : "; ") + op + " (";
    first = false;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i == 5) {
        what += ", ... " + std::to_string(names.size() - 5) + " more";
        break;
      }
      what += (i ? ", " : "") + names[i];
    }
    what += ")";
  }
  throw Error(ErrorKind::unsupported, graph.source, what,
              "replace these ops, or run `acim ops` for the supported list");
}

Executor::Executor(Graph graph) : graph_(std::move(graph)) {
  validate_graph(graph_);
  check_ops_supported(graph_);
  // Last use of each value, so intermediates are freed as soon as they are dead.
  std::map<std::string, size_t> last_use;
  for (size_t i = 0; i < graph_.nodes.size(); ++i)
    for (const auto& in : graph_.nodes[i].inputs)
      if (!in.empty() && !graph_.is_initializer(in)) last_use[in] = i;
  std::set<std::string> keep;
  for (const auto& o : graph_.outputs) keep.insert(o.name);
  release_after_.assign(graph_.nodes.size(), {});
  for (const auto& [value, i] : last_use)
    if (!keep.count(value)) release_after_[i].push_back(value);
}

static std::string describe_type(DType dt, const Shape& s) { return dtype_name(dt) + shape_str(s); }

TensorMap Executor::run(const TensorMap& inputs) const {
  const std::string where = graph_.source.empty() ? "" : graph_.source + ": ";
  TensorMap values;
  for (const auto& in : graph_.inputs) {
    auto it = inputs.find(in.name);
    if (it == inputs.end())
      throw Error(ErrorKind::invalid, where + "input '" + in.name + "'",
                  "no tensor given for this graph input",
                  "expected " + describe_type(in.dtype, in.shape));
    const Tensor& t = it->second;
    bool ok = t.dtype() == in.dtype && t.rank() == static_cast<int>(in.shape.size());
    for (size_t d = 0; ok && d < in.shape.size(); ++d)
      ok = in.shape[d] < 0 || in.shape[d] == t.shape()[d];
    if (!ok)
      throw Error(ErrorKind::shape, where + "input '" + in.name + "'",
                  "expected " + describe_type(in.dtype, in.shape) + ", got " +
                      describe_type(t.dtype(), t.shape()));
    values[in.name] = t;
  }
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const auto& in : graph_.inputs) known |= in.name == name;
    if (!known)
      throw Error(ErrorKind::invalid, where + "input '" + name + "'",
                  "the graph has no input of this name");
  }

  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& node = graph_.nodes[i];
    const ops::OpDef* def = ops::find_op(node.op_type);
    ops::RunContext ctx{node, graph_.where(node), {}, std::vector<Tensor>(node.outputs.size())};
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        ctx.inputs.push_back(nullptr);
        continue;
      }
      const Tensor* t = graph_.initializer(in);
      if (!t) {
        auto it = values.find(in);
        ACIM_ASSERT(it != values.end(), "executor: value used before it is defined");
        t = &it->second;
      }
      ctx.inputs.push_back(t);
    }
    def->run(ctx);
    for (const Node& f : node.fused) {
      ops::RunContext fctx{f, graph_.where(node), {&ctx.outputs[0]}, std::vector<Tensor>(1)};
      ops::find_op(f.op_type)->run(fctx);
      ctx.outputs[0] = std::move(fctx.outputs[0]);
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (node.outputs[o].empty()) continue;
      ACIM_ASSERT(!ctx.outputs[o].empty(), "kernel left an output unset");
      values[node.outputs[o]] = std::move(ctx.outputs[o]);
    }
    for (const auto& dead : release_after_[i]) values.erase(dead);
  }

  TensorMap out;
  for (const auto& o : graph_.outputs) {
    if (const Tensor* t = graph_.initializer(o.name)) {
      out[o.name] = *t;
      continue;
    }
    out[o.name] = values.at(o.name);
  }
  return out;
}

}  // namespace acim
