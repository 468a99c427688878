#include "ops/op.hpp"

namespace acim::ops {

void register_gemm(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
