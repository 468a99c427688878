#include "ops/op.hpp"

namespace acim::ops {

void register_quant(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
