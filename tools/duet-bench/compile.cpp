// W5-compile: what the first call of W5's traced step costs, by where its
// kernels come from. The JIT reads $DUET_CACHE_DIR once per process, so the
// cold and warm-disk figures come from child processes: this program run
// again with the hidden option --compile-probe DIR, twice on one fresh
// directory (the first compiles every kernel and fills it, the second loads
// them). Each probe checks, from the JIT's counters, that its kernels came
// from where its mode says.
#include "workloads.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <duet/duet.h>

extern char** environ;

namespace duet::bench {
namespace {

// A fresh, empty directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    path_ = (std::filesystem::temp_directory_path() / "duet-bench-cache-XXXXXX").string();
    if (!::mkdtemp(path_.data())) throw IOError(fmt::format("W5-compile: mkdtemp: {}", std::strerror(errno)));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The file descriptors of a pipe, closed on every path out.
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe(fd) != 0) throw IOError(fmt::format("W5-compile: pipe: {}", std::strerror(errno)));
  }
  ~Pipe() {
    close(0);
    close(1);
  }
  void close(int end) {
    if (fd[end] >= 0) ::close(fd[end]);
    fd[end] = -1;
  }
};

std::string own_executable() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw IOError(fmt::format("W5-compile: cannot find this program (/proc/self/exe): {}", ec.message()));
  return exe.string();
}

// Runs `duet-bench --compile-probe dir --threads n` with its stdout captured
// (its stderr is ours, so a failing probe explains itself) and parses the
// line it prints.
FirstCall run_probe(const std::string& dir, int threads) {
  std::string exe = own_executable(), flag = "--compile-probe", threads_flag = "--threads",
              threads_text = std::to_string(threads);
  std::vector<char*> argv = {exe.data(), flag.data(), const_cast<char*>(dir.c_str()), threads_flag.data(),
                             threads_text.data(), nullptr};
  Pipe out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out.fd[0]);
  posix_spawn_file_actions_addclose(&actions, out.fd[1]);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw IOError(fmt::format("W5-compile: cannot run {}: {}", exe, std::strerror(rc)));
  out.close(1);  // else the read below never sees the end
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(out.fd[0], buf, sizeof buf)) != 0;) {
    if (n > 0) text.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR) break;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("W5-compile: the probe `{} --compile-probe {}` failed (wait status {})", exe, dir, status));
  FirstCall call;
  std::istringstream in(text);
  if (!(in >> call.ms >> call.compiled >> call.disk_hits))
    throw Error(fmt::format("W5-compile: the probe printed '{}', not 'ms compiled disk_hits'", text));
  return call;
}

void expect(bool ok, const char* mode, const FirstCall& c, const char* expected) {
  if (!ok)
    throw Error(fmt::format("W5-compile {}: the first call compiled {} kernels and loaded {} from disk; expected {}",
                            mode, c.compiled, c.disk_hits, expected));
}

}  // namespace

DiskCompileTimes compile_from_disk(const Repeats& r, int threads) {
  std::vector<double> cold, warm;
  for (int i = 0; i < std::max(1, r.repeats); ++i) {
    TempDir dir;
    FirstCall c = run_probe(dir.path(), threads);
    expect(c.compiled > 0 && c.disk_hits == 0, "cold", c, "every kernel compiled");
    if (std::filesystem::is_empty(dir.path()))
      throw Error(fmt::format("W5-compile cold: the probe saved no kernel in {}", dir.path()));
    FirstCall w = run_probe(dir.path(), threads);
    expect(w.compiled == 0 && w.disk_hits == c.compiled, "warm-disk", w, "the cold run's kernels, all from disk");
    cold.push_back(c.ms);
    warm.push_back(w.ms);
  }
  return {summarize(cold), summarize(warm)};
}

Summary compile_warm_memory(const Repeats& r) {
  // The first call in this process may compile, or find the kernels on disk;
  // after it every kernel is in memory.
  const int warmup = std::max(1, r.warmup);
  std::vector<FirstCall> calls = mlp_train_first_calls(warmup + r.repeats);
  std::vector<double> ms;
  for (size_t i = static_cast<size_t>(warmup); i < calls.size(); ++i) {
    expect(calls[i].compiled == 0 && calls[i].disk_hits == 0, "warm-memory", calls[i], "every kernel from memory");
    ms.push_back(calls[i].ms);
  }
  return summarize(ms);
}

void compile_probe(const std::string& cache_dir) {
  // Before anything starts the JIT, which reads the variable once.
  if (::setenv("DUET_CACHE_DIR", cache_dir.c_str(), 1) != 0)
    throw IOError(fmt::format("--compile-probe: setenv: {}", std::strerror(errno)));
  FirstCall c = mlp_train_first_calls(1).front();
  std::cout << fmt::format("{} {} {}\n", c.ms, c.compiled, c.disk_hits);
}

}  // namespace duet::bench
