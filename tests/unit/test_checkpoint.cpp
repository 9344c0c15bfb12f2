// Checkpoints: safetensors round trips, resumed training, and failed restores that change nothing.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace duet;
using namespace duet_test;
namespace fs = std::filesystem;

namespace {



std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(uint8_t(n >> (8 * i)));
  return s;
}
// A safetensors file from its JSON header text and its data bytes.
std::string safetensors(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

// Every value of a variable as doubles, whatever its dtype.
std::vector<double> values(const Variable& v) { return cast(v.value(), DType::f64).to_vector<double>(); }
std::vector<std::vector<double>> snapshot(const std::vector<Variable>& vars) {
  std::vector<std::vector<double>> out;
  for (const Variable& v : vars) out.push_back(values(v));
  return out;
}

// Several variables of several dtypes, with repeated names.
std::vector<Variable> make_variables() {
  return {Variable(randn({2, 3}, 1), "w"),
          Variable(randn({4}, 2, DType::f64), "w"),
          Variable(tensor({7, -8, 9}), "w", /*trainable=*/false),
          Variable(scalar(2.5f), ""),
          Variable(tensor({int64_t(1) << 40, int64_t(-3)}), "count"),
          Variable(randn({3, 2}, 3), "")};
}

void scramble(const std::vector<Variable>& vars) {
  for (const Variable& v : vars) v.assign(cast(ones(v.shape(), DType::f64) * 42.0, v.dtype()));
}

}  // namespace

TEST_CASE("checkpoint save and restore round trip of f32 f64 i32 i64 variables with repeated names", "[checkpoint]") {
  TempDir dir("roundtrip");
  std::string path = dir.file("vars.safetensors");
  std::vector<Variable> vars = make_variables();
  std::vector<std::vector<double>> saved = snapshot(vars);
  save_checkpoint(path, vars);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // The header names every variable once: repeated names are made unique.
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() > 8);
  for (const char* key : {"\"w\"", "\"w_1\"", "\"w_2\"", "\"count\"", "\"F32\"", "\"F64\"", "\"I32\"", "\"I64\""})
    CHECK(contains(bytes, key));
  scramble(vars);
  REQUIRE(snapshot(vars) != saved);
  restore_checkpoint(path, vars);
  CHECK(snapshot(vars) == saved);  // bit-exact
  for (const Variable& v : vars) CHECK(v.value().dtype() == v.dtype());
  // Into other variables of the same names and types: a fresh program reading the file.
  std::vector<Variable> fresh = make_variables();
  scramble(fresh);
  restore_checkpoint(path, fresh);
  CHECK(snapshot(fresh) == saved);
  // Saving again over the same path replaces the file.
  vars[0].assign(zeros({2, 3}));
  save_checkpoint(path, vars);
  restore_checkpoint(path, fresh);
  CHECK(values(fresh[0]) == std::vector<double>(6, 0.0));
}

TEST_CASE("checkpoint unique names never collide with a name given by the user", "[checkpoint]") {
  TempDir dir("collide");
  std::string path = dir.file("vars.safetensors");
  // "w", "w", "w_1": the second "w" must not be stored under the third's name.
  std::vector<Variable> vars{Variable(tensor({1.f}), "w"), Variable(tensor({2.f}), "w"), Variable(tensor({3.f}), "w_1")};
  save_checkpoint(path, vars);
  scramble(vars);
  restore_checkpoint(path, vars);
  CHECK(values(vars[0]) == std::vector<double>{1});
  CHECK(values(vars[1]) == std::vector<double>{2});
  CHECK(values(vars[2]) == std::vector<double>{3});
}

namespace {

// A small classifier on fixed random batches; step i uses batch i.
struct Trainer {
  nn::Sequential model;
  std::function<void(const std::vector<Tensor>&, const std::vector<Variable>&)> apply;
  std::function<std::vector<Variable>()> slots;

  float step(int i) {
    Tensor x = randn({16, 8}, 1000 + i);
    Tensor y = cast(rand({16}, 2000 + i) * 3.f, DType::i32);
    std::vector<Variable> vars = model.trainable_variables();
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
    apply(tape.gradient(loss, vars), vars);
    return loss.item<float>();
  }
  std::vector<Variable> state() const {
    std::vector<Variable> all = model.trainable_variables();
    for (const Variable& s : slots()) all.push_back(s);
    return all;
  }
};

template <class Opt>
Trainer make_trainer(uint64_t seed, Opt opt) {
  nn::manual_seed(seed);
  Trainer t{nn::Sequential{nn::Dense(8, 16, nn::Activation::relu), nn::Dense(16, 3)}, {}, {}};
  t.apply = [opt](const std::vector<Tensor>& g, const std::vector<Variable>& v) mutable { opt.apply_gradients(g, v); };
  t.slots = [opt] { return opt.variables(); };
  return t;
}

template <class MakeOpt>
void check_resume(MakeOpt make_opt) {
  TempDir dir("resume");
  std::string path = dir.file("train.safetensors");
  Trainer a = make_trainer(1, make_opt());
  for (int i = 0; i < 5; ++i) a.step(i);
  save_checkpoint(path, a.state());
  std::vector<float> uninterrupted;
  for (int i = 5; i < 9; ++i) uninterrupted.push_back(a.step(i));

  // Another initialisation; one step creates the optimizer's slots, then the restore overwrites everything.
  Trainer b = make_trainer(2, make_opt());
  b.step(100);
  REQUIRE(b.state().size() == a.state().size());
  restore_checkpoint(path, b.state());
  std::vector<float> resumed;
  for (int i = 5; i < 9; ++i) resumed.push_back(b.step(i));
  REQUIRE(resumed.size() == uninterrupted.size());
  for (size_t i = 0; i < resumed.size(); ++i) {
    INFO("step " << 5 + i);
    CHECK(resumed[i] == Approx(uninterrupted[i]).margin(1e-6));
  }

  // Restoring the model alone, with a fresh optimizer, starts the same but drifts: the slots matter.
  Trainer c = make_trainer(3, make_opt());
  restore_checkpoint(path, c.model.trainable_variables());
  std::vector<float> model_only;
  for (int i = 5; i < 9; ++i) model_only.push_back(c.step(i));
  CHECK(model_only[0] == Approx(uninterrupted[0]).margin(1e-6));
  CHECK(std::abs(model_only[3] - uninterrupted[3]) > 1e-4);
}

}  // namespace

TEST_CASE("checkpoint restoring model and SGD momentum resumes training at the same loss", "[checkpoint]") {
  check_resume([] { return optim::SGD(0.1, 0.9); });
}

TEST_CASE("checkpoint restoring model and Adam slots resumes training at the same loss", "[checkpoint]") {
  check_resume([] { return optim::Adam(0.01); });
}

TEST_CASE("checkpoint a failed restore leaves every variable untouched", "[checkpoint]") {
  TempDir dir("damaged");
  std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  std::vector<Variable> vars = make_variables();
  save_checkpoint(good, vars);
  const std::string bytes = read_bytes(good);
  scramble(vars);  // the values a failed restore must keep
  const std::vector<std::vector<double>> before = snapshot(vars);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  REQUIRE(header_size < bytes.size());
  const std::string header = bytes.substr(8, header_size), data = bytes.substr(8 + header_size);

  auto expect_io_error = [&](const std::string& what, const std::string& file_bytes, const std::vector<Variable>& list) {
    INFO(what);
    write_bytes(bad, file_bytes);
    try {
      restore_checkpoint(bad, list);
      FAIL_CHECK("no error");
    } catch (const IOError& e) {
      CHECK(contains(e.what(), bad));
    } catch (const std::exception& e) {
      FAIL_CHECK("not an IOError: " << e.what());
    }
    CHECK(snapshot(vars) == before);
  };

  SECTION("a missing file") {
    try {
      restore_checkpoint(dir.file("none.safetensors"), vars);
      FAIL_CHECK("no error");
    } catch (const IOError& e) {
      CHECK(contains(e.what(), dir.file("none.safetensors")));
    }
    CHECK(snapshot(vars) == before);
  }
  SECTION("truncated files") {
    expect_io_error("the last bytes of data gone", bytes.substr(0, bytes.size() - 4), vars);
    expect_io_error("cut inside the header", bytes.substr(0, 8 + header_size / 2), vars);
    expect_io_error("shorter than the size field", bytes.substr(0, 5), vars);
    expect_io_error("empty", "", vars);
  }
  SECTION("a header size pointing past the end") {
    expect_io_error("one byte too many", le64(bytes.size() - 7) + bytes.substr(8), vars);
    expect_io_error("2^63", le64(uint64_t(1) << 63) + bytes.substr(8), vars);
    expect_io_error("2^64 - 1", le64(~uint64_t(0)) + bytes.substr(8), vars);
  }
  SECTION("a corrupt JSON header") {
    std::string broken = header;
    broken[header.size() / 2] = '#';
    expect_io_error("a stray byte", safetensors(broken, data), vars);
    expect_io_error("not an object", safetensors("[1, 2, 3]", data), vars);
    expect_io_error("a malformed entry",
                    safetensors(R"({"w": {"dtype": "F32", "shape": "2x3", "data_offsets": [0, 24]}})", data), vars);
    expect_io_error("an entry without offsets", safetensors(R"({"w": {"dtype": "F32", "shape": [2, 3]}})", data), vars);
    expect_io_error("an unknown dtype",
                    safetensors(R"({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}})", data), vars);
  }
  SECTION("entries pointing outside the data or of the wrong size") {
    std::vector<Variable> one{vars[0]};
    expect_io_error("past the end", safetensors(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 4000]}})", data), one);
    expect_io_error("begin after end", safetensors(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [24, 0]}})", data), one);
    expect_io_error("too few bytes", safetensors(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", data), one);
    expect_io_error("an offset near 2^64",
                    safetensors(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [18446744073709551600, 8]}})", data), one);
  }
  SECTION("a missing entry") {
    std::vector<Variable> more = vars;
    more.push_back(Variable(zeros({2}), "not_in_file"));
    expect_io_error("a variable the file does not hold", bytes, more);
    CHECK(values(more.back()) == std::vector<double>{0, 0});
  }
  SECTION("a shape or dtype mismatch is an Error and changes nothing") {
    for (auto [what, last] : {std::pair<const char*, Variable>{"shape", Variable(zeros({2, 3}), "")},
                              std::pair<const char*, Variable>{"dtype", Variable(zeros({3, 2}, DType::f64), "")}}) {
      INFO(what);
      std::vector<Variable> list = vars;
      list.back() = last;  // the last entry is the one that does not fit
      std::vector<double> last_before = values(last);
      CHECK_THROWS_AS(restore_checkpoint(good, list), Error);
      CHECK(snapshot(vars) == before);
      CHECK(values(last) == last_before);
    }
  }
  // The good file still restores after all that.
  restore_checkpoint(good, vars);
  CHECK(snapshot(vars) != before);
}

TEST_CASE("checkpoint saving into a missing directory is an IOError", "[checkpoint]") {
  TempDir dir("save");
  std::string path = dir.file("no/such/dir/vars.safetensors");
  CHECK_THROWS_AS(save_checkpoint(path, make_variables()), IOError);
  CHECK_FALSE(fs::exists(path));
}
