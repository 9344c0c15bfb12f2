// save / load of traced functions (tracer/saved.cpp, NOTE [Saved
// functions]): a training step and a function with control flow and a
// dynamic batch are saved, loaded in a child process of this binary (which
// never traced them) and run there; outputs and updated weights must equal
// the original's to the bit. An independent reader (Python, json + struct
// only) reads the saved weights. Damaged saves are clear errors.
#include <catch2/catch.hpp>
#include <duet/duet.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::contains;
using duet_test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kSteps = 3;

// The same model and inputs in the parent and in the child: fixed seeds.
struct Mlp {
  nn::Sequential model{nn::Dense(20, 16, nn::Activation::tanh, true, 7), nn::Dense(16, 5, nn::Activation::none, true, 8)};
  optim::SGD opt{0.05, 0.9};
  std::vector<Variable> vars = model.trainable_variables();
};
Tensor mlp_x() { return randn({12, 20}, 3); }
Tensor mlp_y() { return cast(tensor({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}), DType::i32); }

// Collatz steps of each element (a while_loop) and a cond on their sum: any batch size.
std::vector<Tensor> collatz_body(Tensor n, Tensor scale) {
  std::vector<Tensor> out = while_loop(
      [](const std::vector<Tensor>& v) { return max(v[0]) != 1; },
      [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
        Tensor odd = (v[0] % 2) == 1;
        Tensor next = where(v[0] == 1, v[0], where(odd, v[0] * 3 + 1, v[0] / 2));
        return {next, v[1] + cast(v[0] != 1, DType::i64)};
      },
      {n, n * 0});
  Tensor total = sum(cast(out[1], DType::f32) * scale);
  Tensor r = cond(total > 100.f, [&] { return total * 0.5f; }, [&] { return total; });
  return {out[1], r};
}
Tensor collatz_n(int64_t batch) { return (arange(batch, DType::i64) + 1) * 7; }

// The bits of a float tensor, to compare across processes.
std::vector<uint32_t> bits(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

// Tensors handed between the processes, as a safetensors file of variables.
void write_tensors(const std::string& path, const std::vector<Tensor>& ts) {
  std::vector<Variable> vs;
  for (size_t i = 0; i < ts.size(); ++i) vs.emplace_back(ts[i], "t" + std::to_string(i), false);
  save_checkpoint(path, vs);
}
std::vector<Tensor> read_tensors(const std::string& path, const std::vector<Tensor>& like) {
  std::vector<Variable> vs;
  for (size_t i = 0; i < like.size(); ++i) vs.emplace_back(zeros_like(like[i]), "t" + std::to_string(i), false);
  restore_checkpoint(path, vs);
  std::vector<Tensor> out;
  for (const Variable& v : vs) out.push_back(v.value());
  return out;
}

std::string dir_from_env() {
  const char* d = std::getenv("DUET_SAVED_TEST_DIR");
  REQUIRE(d);
  return d;
}

void run_child(const std::string& test_name, const std::string& dir) {
  auto [status, output] = duet_test::finish_self(duet_test::start_self(test_name, {"DUET_SAVED_TEST_DIR=" + dir}));
  INFO("child output:\n" << output);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

// ---- children: load and run in a process that never traced the functions ----

TEST_CASE("saved child: load the training step and run it", "[.][saved_child]") {
  const std::string dir = dir_from_env();
  LoadedFunction step = load(dir + "/mlp");
  REQUIRE(step.input_signature().size() == 2);
  std::vector<Tensor> out;
  for (int i = 0; i < kSteps; ++i) out.push_back(step({mlp_x(), mlp_y()}).at(0));
  for (const Variable& v : step.variables()) out.push_back(v.value());
  write_tensors(dir + "/mlp_out.safetensors", out);
}

TEST_CASE("saved child: load the control-flow function and run it", "[.][saved_child]") {
  const std::string dir = dir_from_env();
  LoadedFunction f = load(dir + "/collatz");
  std::vector<Tensor> out;
  for (int64_t batch : {5, 9}) {
    std::vector<Tensor> r = f({collatz_n(batch), scalar(1.5f)});
    out.insert(out.end(), r.begin(), r.end());
  }
  write_tensors(dir + "/collatz_out.safetensors", out);
}

// ---- the parent ------------------------------------------------------------------------

TEST_CASE("saved: a training step loaded in another process trains to the same bits", "[saved]") {
  TempDir tmp("saved_mlp");
  Mlp m;
  auto step = function([&m](Tensor x, Tensor y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, m.model(x));
    m.opt.apply_gradients(tape.gradient(loss, m.vars), m.vars);
    return loss;
  });
  save(step.get_concrete_function(mlp_x(), mlp_y()), tmp.file("mlp"));
  CHECK(fs::is_regular_file(tmp.file("mlp/function.duet")));
  CHECK(fs::is_regular_file(tmp.file("mlp/variables.safetensors")));
  std::vector<Tensor> want;
  for (int i = 0; i < kSteps; ++i) want.push_back(step(mlp_x(), mlp_y()));
  run_child("saved child: load the training step and run it", tmp.path.string());
  // The loaded function owns copies: momentum slots as well as weights (6 variables).
  std::vector<Tensor> like = want;
  LoadedFunction here = load(tmp.file("mlp"));
  for (const Variable& v : here.variables()) like.push_back(v.value());
  REQUIRE(here.variables().size() == 2 * m.vars.size());
  std::vector<Tensor> got = read_tensors(tmp.file("mlp_out.safetensors"), like);
  for (int i = 0; i < kSteps; ++i) CHECK(bits(got[static_cast<size_t>(i)]) == bits(want[static_cast<size_t>(i)]));
  // The loaded weights after 3 steps are the original's after 3 steps (names as in the file).
  for (size_t k = 0; k < m.vars.size(); ++k) {
    INFO(here.variables()[k].name());
    CHECK(bits(got[kSteps + k]) == bits(m.vars[k].value()));
  }
  CHECK(want[0].item<float>() > want[2].item<float>());  // it trained
}

TEST_CASE("saved: control flow and a dynamic batch run in another process to the same bits", "[saved]") {
  TempDir tmp("saved_collatz");
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1}, DType::i64), TensorSpec({}, DType::f32)};
  auto f = function(collatz_body, o);
  save(f.get_concrete_function(collatz_n(3), scalar(1.5f)), tmp.file("collatz"));
  std::vector<Tensor> want;
  for (int64_t batch : {5, 9}) {
    std::vector<Tensor> r = f(collatz_n(batch), scalar(1.5f));
    want.insert(want.end(), r.begin(), r.end());
  }
  run_child("saved child: load the control-flow function and run it", tmp.path.string());
  std::vector<Tensor> got = read_tensors(tmp.file("collatz_out.safetensors"), want);
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("output " << i);
    if (want[i].dtype() == DType::f32) CHECK(bits(got[i]) == bits(want[i]));
    else CHECK(got[i].to_vector<int64_t>() == want[i].to_vector<int64_t>());
  }
  CHECK(f.trace_count() == 1);
  LoadedFunction here = load(tmp.file("collatz"));
  CHECK(here.input_signature()[0].shape.dim(0) == -1);
  CHECK(contains(here.ir(Stage::traced), "while"));
  CHECK(here.variables().empty());
}

TEST_CASE("saved: an independent reader (Python json + struct) reads the weights", "[saved]") {
  TempDir tmp("saved_py");
  Mlp m;
  auto infer = function([&m](Tensor x) { return m.model(x); });
  save(infer.get_concrete_function(mlp_x()), tmp.file("m"));
  const std::string script = tmp.file("read.py");
  std::ofstream(script) << R"(import json, struct, sys
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
for name, info in sorted(header.items()):
    if name == '__metadata__':
        continue
    b, e = info['data_offsets']
    count = (e - b) // 4
    vals = struct.unpack('<%df' % count, data[8 + n + b:8 + n + e])
    print(name, info['dtype'], 'x'.join(map(str, info['shape'])), repr(sum(vals)), repr(vals[0]))
)";
  const std::string out = tmp.file("py.txt");
  const std::string cmd = "python3 " + script + " " + tmp.file("m/variables.safetensors") + " > " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(out);
  std::map<std::string, std::string> lines;
  for (std::string name, dtype, shape, total, first; in >> name >> dtype >> shape >> total >> first;)
    lines[name] = dtype + " " + shape + " " + first;
  REQUIRE(lines.size() == m.vars.size());
  LoadedFunction lf = load(tmp.file("m"));
  for (const Variable& v : lf.variables()) {
    INFO(v.name());
    REQUIRE(lines.count(v.name()));
    std::string shape;
    for (int d = 0; d < v.value().shape().rank(); ++d) shape += (d ? "x" : "") + std::to_string(v.value().shape().dim(d));
    // Python's repr of the first float (as a double) round-trips the f32 exactly.
    const float first = v.value().to_vector<float>().at(0);
    CHECK(lines[v.name()] == "F32 " + shape + " " + fmt::format("{}", static_cast<double>(first)));
  }
}

namespace {

// A small saved function to damage: a dense layer with its two variables.
std::string saved_dense(const TempDir& tmp) {
  Variable w(randn({4, 3}, 1), "w"), b(randn({3}, 2), "b");
  auto f = function([w, b](Tensor x) { return relu(matmul(x, w.value()) + b.value()); });
  const std::string dir = tmp.file("dense");
  save(f.get_concrete_function(randn({2, 4}, 3)), dir);
  return dir;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void spit(const std::string& p, const std::string& data) { std::ofstream(p, std::ios::binary | std::ios::trunc) << data; }

template <class E>
std::string load_error(const std::string& dir) {
  try {
    (void)load(dir);
  } catch (const E& e) {
    return e.what();
  }
  FAIL("load did not throw the expected error");
  return "";
}

}  // namespace

TEST_CASE("saved: missing, foreign, damaged and mismatched saves are clear errors", "[saved]") {
  TempDir tmp("saved_bad");
  const std::string dir = saved_dense(tmp);
  const std::string fn = dir + "/function.duet", weights = dir + "/variables.safetensors";
  const std::string good_fn = slurp(fn), good_w = slurp(weights);
  REQUIRE(load(dir).variables().size() == 2);

  CHECK(contains(load_error<IOError>(tmp.file("nowhere")), "nowhere"));
  CHECK(contains(load_error<IOError>(fn), "not a directory"));  // a file, not a directory
  fs::remove(fn);
  CHECK(contains(load_error<IOError>(dir), "function.duet"));
  spit(fn, "func @x() -> () {\n  return\n}\n");
  CHECK(contains(load_error<ParseError>(dir), "not a saved duet function"));
  std::string v2 = good_fn;
  v2.replace(v2.find("format: 1"), 9, "format: 2");
  spit(fn, v2);
  CHECK(contains(load_error<ParseError>(dir), "format 2"));
  spit(fn, good_fn.substr(0, good_fn.size() * 2 / 3));  // truncated in the graph
  CHECK(contains(load_error<ParseError>(dir), "function.duet"));
  spit(fn, good_fn);
  fs::remove(weights);
  CHECK(contains(load_error<IOError>(dir), "variables.safetensors"));
  spit(weights, good_w.substr(0, good_w.size() - 7));  // truncated weights
  CHECK_THROWS_AS(load(dir), IOError);
  // Another function's weights: the names or shapes differ.
  {
    TempDir other("saved_other");
    Variable w(randn({5, 3}, 1), "w"), b(randn({3}, 2), "b");
    auto g = function([w, b](Tensor x) { return matmul(x, w.value()) + b.value(); });
    save(g.get_concrete_function(randn({2, 5}, 3)), other.file("g"));
    spit(weights, slurp(other.file("g/variables.safetensors")));
    CHECK_THROWS_AS(load(dir), Error);
  }
  spit(weights, good_w);
  CHECK(load(dir).variables().size() == 2);
}

TEST_CASE("saved: 300 randomly damaged function files are errors, never crashes", "[saved]") {
  TempDir tmp("saved_fuzz");
  const std::string dir = saved_dense(tmp);
  const std::string fn = dir + "/function.duet", good = slurp(fn);
  uint64_t s = 12345;
  auto next = [&] { return (s = s * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  int errors = 0, loaded = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bad = good;
    switch (next() % 3) {
      case 0: bad.resize(next() % bad.size()); break;                                     // truncated
      case 1: bad[next() % bad.size()] = static_cast<char>(next() % 256); break;          // one byte changed
      default: bad.erase(next() % bad.size(), 1 + next() % 8); break;                      // bytes dropped
    }
    spit(fn, bad);
    try {
      LoadedFunction lf = load(dir);
      (void)lf({randn({2, 4}, 3)});  // a change the parser accepts (a digit of a constant) still runs
      ++loaded;
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors + loaded == 300);
  CHECK(errors > 150);
}

TEST_CASE("saved: a function taking Variable arguments cannot be saved", "[saved]") {
  TempDir tmp("saved_vararg");
  Variable w(randn({3}, 1), "w");
  auto f = function([](Variable v, Tensor x) { return v.value() * x; });
  ConcreteFunction cf = f.get_concrete_function(w, randn({3}, 2));
  CHECK_THROWS_WITH(save(cf, tmp.file("f")), Catch::Contains("Variable arguments"));
  CHECK_THROWS_WITH(save(ConcreteFunction(), tmp.file("g")), Catch::Contains("empty"));
}
