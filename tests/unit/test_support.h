// Helpers several unit-test files share: temporary directories, child
// processes of this test binary, element views of tensors and variables, and
// an element-wise closeness check.
#pragma once

#include <catch2/catch.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <duet/duet.h>

extern char** environ;

namespace duet_test {

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The message of the E that f throws, or a description of what happened instead.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<an exception of another type: ") + e.what() + ">";
  }
  return "<no exception>";
}

// DUET_JIT=0: fusions run stepped, nothing is compiled (codegen/lower.cpp).
inline bool jit_off() {
  const char* v = std::getenv("DUET_JIT");
  return v && std::string(v) == "0";
}

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("duet_test_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A child process running this binary's test case `test_name` (a hidden
// "[.]" case) with the environment minus the variables named in `drop`, plus
// `add` ("NAME=value"); its stdout is read through a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;
};
inline Child start_self(const std::string& test_name, const std::vector<std::string>& add,
                        const std::vector<std::string>& drop = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string s = *e;
    bool dropped = false;
    for (const std::string& d : drop) dropped |= s.rfind(d + "=", 0) == 0;
    for (const std::string& a : add) dropped |= s.rfind(a.substr(0, a.find('=') + 1), 0) == 0;
    if (!dropped) env.push_back(s);
  }
  env.insert(env.end(), add.begin(), add.end());
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", name = test_name;
  char* argv[] = {exe.data(), name.data(), nullptr};
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  Child c;
  int rc = posix_spawn(&c.pid, exe.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) ::close(fds[0]);
  REQUIRE(rc == 0);
  c.out = fds[0];
  return c;
}
// Waits for the child: its wait status and everything it printed.
inline std::pair<int, std::string> finish_self(Child c) {
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = ::read(c.out, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(c.out);
  int status = -1;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {status, output};
}

inline std::vector<float> f32s(const duet::Tensor& t) { return t.to_vector<float>(); }
inline std::vector<double> f64s(const duet::Tensor& t) { return t.to_vector<double>(); }
inline std::vector<float> f32s(const duet::Variable& v) { return v.value().to_vector<float>(); }
inline std::vector<double> f64s(const duet::Variable& v) { return v.value().to_vector<double>(); }

template <class T>
void check_close(const std::vector<T>& got, const std::vector<T>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

}  // namespace duet_test
