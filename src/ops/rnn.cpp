#include "ops/op.hpp"

namespace acim::ops {

void register_rnn(std::vector<OpDef>& ops) { (void)ops; }

}  // namespace acim::ops
