#include "ops/op.hpp"

namespace acim::ops {

void register_reduce(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
