#include "ops/op.hpp"

namespace acim::ops {

void register_conv(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
