#include "acim/passes.hpp"

namespace acim {
// Implemented by the passes work (see include/acim/passes.hpp).
}  // namespace acim
