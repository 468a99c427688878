// Shape inference: fills Graph::values with the dtype and shape of every value, propagating
// constants where shapes depend on them (Shape -> Gather -> Reshape chains). Unknown input
// dimensions stay unknown (kUnknownDim) downstream. Errors name the node and the mismatch.
#pragma once

#include "acim/graph.hpp"

namespace acim {

void infer_shapes(Graph& graph);

}  // namespace acim
