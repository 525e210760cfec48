// SPDX-License-Identifier: MIT
// tests/backend/opencl.test.cpp — the OpenCL launcher on PoCL against the CPU launcher
#include <doctest/doctest.h>

#include <vector>

#include <boost/compute/container/vector.hpp>
#include <boost/compute/algorithm/copy.hpp>

#include <wsss/backend/for_each_index.hpp>
#include <wsss/backend/opencl/launch.hpp>
#include <wsss/core/random.hpp>

namespace {

struct affine_kernel {
  float* y;
  const float* x;
  float a;
  void operator()(std::int64_t i) const { y[i] = a * x[i] + static_cast<float>(i % 7) * 0.25f; }
};

// The same body in OpenCL C.
constexpr const char* affine_source = R"CL(
__kernel void affine(__global float* y, __global const float* x, const float a) {
  const long i = get_global_id(0);
  y[i] = a * x[i] + (float)(i % 7) * 0.25f;
}
)CL";

}  // namespace

TEST_CASE("opencl launcher matches the CPU launcher") {
  namespace bc = boost::compute;
  const wsss::opencl_t cl = wsss::backend::opencl::default_queue();
  wsss::rng g(9);
  const wsss::tensor x = wsss::random_uniform({4099}, g, -2.0, 2.0);
  std::vector<float> ref(static_cast<std::size_t>(x.numel()));
  wsss::backend::for_each_index(wsss::cpu, x.numel(), affine_kernel{ref.data(), x.data(), 1.5f});

  bc::vector<float> dx(x.begin(), x.end(), *cl.queue);
  bc::vector<float> dy(ref.size(), cl.queue->get_context());
  auto k = wsss::backend::opencl::get_kernel(cl, affine_source, "affine");
  k.set_args(dy.get_buffer(), dx.get_buffer(), 1.5f);
  wsss::backend::opencl::launch(cl, k, ref.size());
  std::vector<float> out(ref.size());
  bc::copy(dy.begin(), dy.end(), out.begin(), *cl.queue);
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == doctest::Approx(ref[i]).epsilon(1e-6));
}

TEST_CASE("opencl build failures surface as backend_error with the build log") {
  const wsss::opencl_t cl = wsss::backend::opencl::default_queue();
  try {
    wsss::backend::opencl::get_kernel(cl, "__kernel void broken( { }", "broken");
    FAIL("expected a build failure");
  } catch (const wsss::backend_error& e) {
    CHECK(std::string(e.what()).find("[wsss.backend] opencl: building broken failed") != std::string::npos);
    CHECK_FALSE(e.log().empty());
    CHECK(std::string(e.what()).find(e.log().substr(0, 40)) != std::string::npos);  // the log's start in the message
  }
  CHECK_THROWS_AS(wsss::backend::opencl::get_kernel(wsss::opencl_t{}, "x", "y"), wsss::backend_error);
}

TEST_CASE("backend::batch_pays: a GPU or accelerator queue, never a CPU device or a host tag") {
  const wsss::opencl_t q = wsss::backend::opencl::default_queue();
  const auto type = q.queue->get_device().type();
  MESSAGE("default OpenCL device: ", q.queue->get_device().name(), " (type ", type, ")");
  CHECK(wsss::backend::batch_pays<wsss::opencl_t>::on(q) == ((type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0));
  if (type & CL_DEVICE_TYPE_CPU) CHECK_FALSE(wsss::backend::batch_pays<wsss::opencl_t>::on(q));  // PoCL here
  CHECK_FALSE(wsss::backend::batch_pays<wsss::opencl_t>::on(wsss::opencl_t{}));  // no queue
  CHECK_FALSE(wsss::backend::batch_pays<wsss::thrust_omp_t>::on(wsss::thrust_omp));
  CHECK_FALSE(wsss::backend::batch_pays<wsss::cpu_t>::on(wsss::cpu));
}
