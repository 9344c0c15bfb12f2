// The CUDA backend on a machine without a GPU (docs/cuda.md): the build
// finds the toolkit and loads its runtime with dlopen, and asking for a CUDA
// device gives a DeviceError that names the op, the device, the reason (the
// CUDA runtime's own words) and the caller's line. Never a crash or a hang.
#include <catch2/catch.hpp>
#include <duet/backends/cuda/device.h>
#include <duet/duet.h>

#include <string>

#include "test_support.h"

using namespace duet;
using duet_test::contains;

TEST_CASE("without a CUDA device, using one is a DeviceError that says why", "[cuda]") {
  if (cuda_available()) {
    WARN("SKIPPED: this machine has a CUDA device; the no-device errors cannot be checked here");
    return;
  }
  const std::string why = cuda::device_status().why;
  INFO("why: " << why);
  CHECK(!why.empty());
  if (cuda::built_with_cuda())  // the runtime answered: on these machines, no driver
    CHECK((contains(why, "cudaGetDeviceCount") || contains(why, "could not be loaded")));
  else
    CHECK(contains(why, "no CUDA backend"));
  try {
    DeviceScope on(Device::cuda(0));
    FAIL("DeviceScope(cuda:0) did not throw");
  } catch (const DeviceError& e) {
    std::string m = e.what();
    CHECK(contains(m, "DeviceScope"));
    CHECK(contains(m, "cuda:0 is not available"));
    CHECK(contains(m, why));
    CHECK(contains(m, "test_cuda.cpp"));
  }
  Tensor x = ones({2, 2});
  try {
    (void)x.to(Device::cuda(1));
    FAIL("to(cuda:1) did not throw");
  } catch (const DeviceError& e) {
    CHECK(contains(e.what(), "to"));
    CHECK(contains(e.what(), "cuda:1 is not available"));
    CHECK(contains(e.what(), "test_cuda.cpp"));
  }
  // The CPU path is untouched: the scope did not change the device.
  CHECK(current_device() == Device::cpu());
  CHECK(x.to(Device::cpu()).to_vector<float>() == std::vector<float>{1, 1, 1, 1});
}
