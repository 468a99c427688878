#include "ops/op.hpp"

namespace acim::ops {

void register_shape_ops(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
