// acim_mfcc_dump IN.wav OUT.npy: the C++ front end's MFCC of a WAV file ([frames, 10] float32),
// for tests/python/check_mfcc.py to compare with python_speech_features.
#include <cstdio>
#include <exception>

#include "acim/audio.hpp"
#include "acim/npy.hpp"
#include "acim/tensor.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: acim_mfcc_dump IN.wav OUT.npy\n");
    return 2;
  }
  try {
    const acim::Audio audio = acim::read_wav(argv[1]);
    const acim::Mfcc mfcc;
    const std::vector<float> f = mfcc.compute(audio.samples);
    const int64_t frames = mfcc.frames(static_cast<int64_t>(audio.samples.size()));
    acim::save_npy(argv[2],
                   acim::Tensor::from_vector<float>({frames, mfcc.config().coefficients}, f));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acim_mfcc_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
