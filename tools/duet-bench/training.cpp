// W5 mlp-train: one training step of WORKLOADS.md's recipe (Fashion-MNIST,
// batch 128, MLP 784-256-10 relu, softmax cross-entropy, SGD 0.1), eager and
// as one traced function, and its floor: the step's five matmuls alone,
// straight through oneDNN on the same shapes.
#include "workloads.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <duet/duet.h>

namespace duet::bench {
namespace {

constexpr int64_t kBatch = 128;
constexpr int kStepsPerSample = 10;

struct Recipe {
  data::FashionMNIST train{data::Split::train};
  nn::Sequential model;
  optim::SGD opt{0.1};
  std::vector<Variable> vars;
  int64_t next = 0;
  Recipe() : model(nn::Dense(784, 256, nn::Activation::relu, true, 1), nn::Dense(256, 10, nn::Activation::none, true, 2)) {
    vars = model.trainable_variables();
    train.shuffle(5);
  }
  std::pair<Tensor, Tensor> batch() {
    auto b = train.batch(next, kBatch);
    next = (next + 1) % (train.size() / kBatch);  // full batches only: one shape
    return b;
  }
  Tensor step(const Tensor& x, const Tensor& y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  }
};

Summary run(const Repeats& r, bool traced) {
  Recipe recipe;
  FunctionOptions options;
  options.name = "w5_train_step";
  auto traced_step = function([&recipe](Tensor x, Tensor y) { return recipe.step(x, y); }, options);
  // Batches are made before the clock starts: the step is what is timed.
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int i = 0; i < kStepsPerSample; ++i) batches.push_back(recipe.batch());
  auto body = [&] {
    Tensor loss;
    for (auto& [x, y] : batches) loss = traced ? traced_step(x, y) : recipe.step(x, y);
    return loss;
  };
  auto check = [&](const Tensor& loss) {
    double l = loss.item<float>();
    if (!(l > 0 && l < 10)) throw Error(fmt::format("W5 {}: the loss is {}", traced ? "traced" : "eager", l));
    consume(l);
  };
  auto seconds = time_repeats(r, body, check);
  if (traced && traced_step.trace_count() != 1) throw Error("W5 traced: the step was traced more than once");
  return summarize_as(seconds, [](double s) { return s * 1e3 / kStepsPerSample; });
}

}  // namespace

Summary mlp_train_eager(const Repeats& r) { return run(r, false); }
Summary mlp_train_traced(const Repeats& r) { return run(r, true); }

Summary mlp_train_floor(const Repeats& r) {
  // (M, K, N) of each matmul of a step: two forward, three backward.
  const int64_t shapes[5][3] = {{128, 784, 256}, {128, 256, 10}, {256, 128, 10}, {128, 10, 256}, {784, 128, 256}};
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    struct Mm {
      dnnl::matmul prim;
      std::vector<float> a, b, c;
      dnnl::memory ma, mb, mc;
    };
    std::vector<Mm> mms;
    for (const auto& s : shapes) {
      using md = dnnl::memory::desc;
      md a({s[0], s[1]}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
      md b({s[1], s[2]}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
      md c({s[0], s[2]}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
      Mm m{dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), engine)),
           std::vector<float>(static_cast<size_t>(s[0] * s[1]), 0.5f),
           std::vector<float>(static_cast<size_t>(s[1] * s[2]), 0.25f),
           std::vector<float>(static_cast<size_t>(s[0] * s[2])), {}, {}, {}};
      m.ma = dnnl::memory(a, engine, m.a.data());
      m.mb = dnnl::memory(b, engine, m.b.data());
      m.mc = dnnl::memory(c, engine, m.c.data());
      mms.push_back(std::move(m));
    }
    auto body = [&] {
      for (int i = 0; i < kStepsPerSample; ++i)
        for (Mm& m : mms) {
          m.prim.execute(stream, {{DNNL_ARG_SRC, m.ma}, {DNNL_ARG_WEIGHTS, m.mb}, {DNNL_ARG_DST, m.mc}});
          stream.wait();
        }
      return 0;
    };
    auto check = [&](int) {
      for (size_t k = 0; k < mms.size(); ++k) {
        double want = 0.5 * 0.25 * static_cast<double>(shapes[k][1]);
        if (std::fabs(mms[k].c[0] - want) > 1e-3 * want) throw Error("W5 floor: a oneDNN matmul is wrong");
        consume(mms[k].c[0]);
      }
    };
    auto seconds = time_repeats(r, body, check);
    return summarize_as(seconds, [](double s) { return s * 1e3 / kStepsPerSample; });
  } catch (const dnnl::error& e) {
    throw Error(fmt::format("W5 floor: oneDNN failed: {}", e.what()));
  }
}

}  // namespace duet::bench
