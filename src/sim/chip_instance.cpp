// SKELETON (being written): see include/acim/sim.hpp.
#include "acim/error.hpp"
#include "acim/sim.hpp"

namespace acim {

struct ChipInstance::State {
  Executor exec;
};

ChipInstance::ChipInstance(const Program& program, const SimOptions&)
    : state_(std::make_unique<State>(State{Executor(program.graph)})) {}
ChipInstance::~ChipInstance() = default;
ChipInstance::ChipInstance(ChipInstance&&) noexcept = default;
ChipInstance& ChipInstance::operator=(ChipInstance&&) noexcept = default;
TensorMap ChipInstance::run(const TensorMap& inputs) {
  throw Error(ErrorKind::unsupported, "sim", "not written yet");
}
void ChipInstance::set_time(double) {}
int64_t ChipInstance::arrays() const {
  return 0;
}

}  // namespace acim
