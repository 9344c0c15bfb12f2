// Kernels for the host CPU through LLVM: a target machine with the host's
// features, O3 and object emission (codegen/emit/toolchain.h), ORC LLJIT,
// and the kernel cache (IR generation: generate.cpp; which bodies compile:
// codegen/kernel_ir.h).
//
// NOTE [Kernel cache]
// A kernel is keyed by its body's ops and dtypes (never its shapes), which
// inputs are scalars along the run, and the CPU (triple, name, features).
// In memory: key -> the loaded code, each kernel under its own ORC resource
// tracker and shared by handles (jit::Kernel::owner, held by the Program
// plans that call it). The cache holds a handle to the most recently used
// kernels, at most Limits::entries (512) and Limits::bytes (64 MiB of object
// code); past either it lets go of the least recently used. A kernel's code
// is removed from the JIT when its last handle goes, so what stays loaded is
// what the cache holds plus what live functions' traces use. On disk:
// $DUET_CACHE_DIR (default ~/.cache/duet) holds one object
// file per kernel, named by a hash of the key, behind a header holding the
// whole key (which includes when the generator was built, so a rebuilt
// duet never loads an older generator's kernels), the object's size and a
// checksum; a file whose header does not
// match (truncated, corrupt, another key with the same hash) is ignored and
// rewritten. Files are written to a unique temporary name and renamed, so
// two processes writing the same kernel at once each leave a whole file.
// The folder is trimmed to Limits::disk_bytes (256 MiB), least recently used
// files first (a hit touches its file), every 32 writes (disk_cache.cpp).
#include <duet/codegen/llvm/kernels.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <unistd.h>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <duet/codegen/llvm/disk_cache.h>
#include <duet/codegen/llvm/generate.h>
#include <duet/codegen/emit/math.h>
#include <duet/codegen/emit/toolchain.h>
#include <duet/graph/error.h>
#include <duet/graph/printer.h>

namespace duet::codegen::jit {
namespace {

// The key's body part: params' dtypes and scalar flags, each op with its
// operand ids and dtypes, the yields.
std::string body_key(const BodySpec& body, const std::vector<bool>& scalar_input) {
  std::string k;
  for (size_t i = 0; i < body.params.size(); ++i)
    k += fmt::format("p{}:{}{};", i, dtype_name(body.params[i]), scalar_input[i] ? "s" : "v");
  for (const BodySpec::Op& op : body.ops) {
    k += op.name + "(";
    for (int v : op.in) k += std::to_string(v) + ",";
    k += fmt::format("){}->{};", dtype_name(op.operand), dtype_name(op.result));
  }
  k += "yield";
  for (int v : body.yields) k += "," + std::to_string(v);
  if (body.reduction_yield >= 0) k += body.columns ? ";cols" : ";rows";
  if (body.normalizes) k += ";normalizes";
  return k;
}

// ---- the JIT and the cache ---------------------------------------------------------

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}


// A loaded kernel's code, unloaded from the JIT when the last handle (the
// cache's or a Program plan's) goes (NOTE [Kernel cache]).
struct Loaded {
  std::string key;
  uint64_t generation = 0;
  RunFn fn = nullptr;
};

// Set when exit() runs: a handle released by a static object's destructor
// after that leaves its code loaded (LLVM's own statics may be gone).
std::atomic<bool> g_exiting{false};

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  return *end ? fallback : n;
}

class Jit {
 public:
  static Jit& get() {
    static Jit* j = new Jit();  // never destroyed: kernels may be used until the process ends
    return *j;
  }

  Kernel kernel(const BodySpec& body, const std::vector<bool>& scalar_input) {
    std::string key = host_ + "|" + generator_ + "|" + body_key(body, scalar_input);
    std::vector<std::shared_ptr<const Loaded>> dropped;  // released after the lock (their deleter takes it)
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (std::shared_ptr<const Loaded> live = it->second.handle.lock()) {
        ++stats_.memory_hits;
        pin(it->second, live, dropped);
        return Kernel{key, live->fn, live};
      }
      unload(it);  // its last handle went a moment ago; its deleter will find nothing to do
    }
    const std::string name = fmt::format("duet_kernel_{:016x}", fnv1a(key));
    std::string object;
    if (!disk_.read(key, name, &object, &stats_.disk_rejected)) {
      object = compile(body, scalar_input, name, nullptr, nullptr);
      ++stats_.compiled;
      disk_.write(key, name, object);
    } else {
      ++stats_.disk_hits;
    }
    llvm::orc::ResourceTrackerSP tracker = jit_->getMainJITDylib().createResourceTracker();
    if (auto err = jit_->addObjectFile(tracker, llvm::MemoryBuffer::getMemBufferCopy(object, name)))
      throw Error("codegen: loading kernel " + name + " failed: " + error_text(std::move(err)));
    auto sym = jit_->lookup(name);
    if (!sym) {
      llvm::consumeError(tracker->remove());
      throw Error("codegen: kernel " + name + " not found: " + error_text(sym.takeError()));
    }
    auto* loaded = new Loaded{key, ++generation_, sym->toPtr<RunFn>()};
    std::shared_ptr<const Loaded> handle(loaded, [](const Loaded* l) {
      Jit::get().release(*l);
      delete l;
    });
    Entry& e = entries_[key];
    e.handle = handle;
    e.tracker = tracker;
    e.generation = loaded->generation;
    e.bytes = object.size();
    stats_.loaded += 1;
    stats_.loaded_bytes += static_cast<int64_t>(e.bytes);
    pin(e, handle, dropped);
    return Kernel{key, handle->fn, handle};
  }

  std::string text(const BodySpec& body, const std::vector<bool>& scalar_input, bool assembly) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string ir, as;
    compile(body, scalar_input, "kernel", &ir, assembly ? &as : nullptr);
    return assembly ? as : ir;
  }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    Stats s = stats_;
    s.cached = static_cast<int64_t>(lru_.size());
    s.cached_bytes = static_cast<int64_t>(lru_bytes_);
    return s;
  }
  Limits limits() {
    std::lock_guard<std::mutex> lock(mu_);
    return limits_;
  }
  void set_limits(const Limits& l) {
    std::vector<std::shared_ptr<const Loaded>> dropped;
    std::lock_guard<std::mutex> lock(mu_);
    limits_ = l;
    disk_.set_max_bytes(l.disk_bytes);
    evict(dropped);
  }
  int64_t trim_disk() {
    std::lock_guard<std::mutex> lock(mu_);
    return disk_.trim();
  }
  const std::string& host() const { return host_; }

 private:
  struct Entry {
    std::weak_ptr<const Loaded> handle;
    std::shared_ptr<const Loaded> pinned;  // held by the cache: in lru_
    std::list<std::string>::iterator lru_pos;
    llvm::orc::ResourceTrackerSP tracker;
    uint64_t generation = 0;
    size_t bytes = 0;
  };

  // Most recently used first; beyond the limits, the cache lets go of the
  // least recently used (Programs may still hold them).
  void pin(Entry& e, const std::shared_ptr<const Loaded>& h, std::vector<std::shared_ptr<const Loaded>>& dropped) {
    if (e.pinned) {
      lru_.splice(lru_.begin(), lru_, e.lru_pos);
    } else {
      e.pinned = h;
      lru_.push_front(h->key);
      e.lru_pos = lru_.begin();
      lru_bytes_ += e.bytes;
    }
    evict(dropped);
  }
  void evict(std::vector<std::shared_ptr<const Loaded>>& dropped) {
    while (lru_.size() > 1 && (lru_.size() > limits_.entries || lru_bytes_ > limits_.bytes)) {
      Entry& victim = entries_.at(lru_.back());
      lru_.pop_back();
      lru_bytes_ -= victim.bytes;
      dropped.push_back(std::move(victim.pinned));
      victim.pinned.reset();
      ++stats_.evicted;
    }
  }
  void unload(std::unordered_map<std::string, Entry>::iterator it) {
    if (auto err = it->second.tracker->remove()) llvm::consumeError(std::move(err));  // freeing cannot usefully fail
    stats_.loaded -= 1;
    stats_.loaded_bytes -= static_cast<int64_t>(it->second.bytes);
    ++stats_.unloaded;
    entries_.erase(it);
  }
  // The deleter of a kernel's last handle.
  void release(const Loaded& l) {
    if (g_exiting.load()) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(l.key);
    if (it != entries_.end() && it->second.generation == l.generation && it->second.handle.expired()) unload(it);
  }

  Jit() {
    std::atexit([] { g_exiting.store(true); });
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) throw Error("codegen: cannot describe the host CPU: " + error_text(jtmb.takeError()));
    // LLVM 16 may call a new CPU "generic": name its features, so it vectorizes with all of them.
    llvm::StringMap<bool> features;
    llvm::sys::getHostCPUFeatures(features);
    llvm::SubtargetFeatures f;
    std::string feature_list;
    for (const auto& kv : features) {
      f.AddFeature(kv.getKey(), kv.getValue());
      if (kv.getValue()) feature_list += "+" + kv.getKey().str() + ",";
    }
    avx512_ = features.lookup("avx512f");
    jtmb->setCPU(llvm::sys::getHostCPUName().str());
    jtmb->getFeatures() = f;
    jtmb->setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
    host_ = jtmb->getTargetTriple().str() + " " + jtmb->getCPU() + " " + feature_list;
    // The generator's build is part of the key: kernels saved by another build are never loaded.
    generator_ = std::string("duet codegen built ") + __DATE__ " " __TIME__ + ", math " + emit::math_build_stamp() +
                 ", generator " + generate_build_stamp();
    auto tm = jtmb->createTargetMachine();
    if (!tm) throw Error("codegen: no target machine: " + error_text(tm.takeError()));
    tm_ = std::move(*tm);
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
    if (!jit) throw Error("codegen: cannot start the JIT: " + error_text(jit.takeError()));
    jit_ = std::move(*jit);
    // Kernels call libm (erff, powf, and f64 transcendentals): resolve in the process.
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!gen) throw Error("codegen: " + error_text(gen.takeError()));
    jit_->getMainJITDylib().addGenerator(std::move(*gen));
    const char* dir = std::getenv("DUET_CACHE_DIR");
    const char* home = std::getenv("HOME");
    std::string cache_dir;
    if (dir && *dir) cache_dir = dir;
    else if (home && *home) cache_dir = std::string(home) + "/.cache/duet";
    limits_.entries = std::max<uint64_t>(1, env_number("DUET_KERNEL_CACHE_ENTRIES", limits_.entries));
    limits_.bytes = env_number("DUET_KERNEL_CACHE_MB", limits_.bytes >> 20) << 20;
    limits_.disk_bytes = env_number("DUET_CACHE_DISK_MB", limits_.disk_bytes >> 20) << 20;
    disk_ = DiskCache(cache_dir, limits_.disk_bytes);
  }

  // IR -> O3 -> object code; optionally the optimized IR and the assembly.
  std::string compile(const BodySpec& body, const std::vector<bool>& scalar_input, const std::string& name,
                      std::string* ir_out, std::string* asm_out) {
    llvm::LLVMContext ctx;
    // Remarks and warnings ("loop not vectorized" for a body that calls libm)
    // are not the user's business; errors still throw below.
    ctx.setDiagnosticHandlerCallBack(
        [](const llvm::DiagnosticInfo& info, void*) {
          if (info.getSeverity() == llvm::DS_Error) throw Error("codegen: LLVM reported an error while compiling a kernel");
        },
        nullptr);
    std::unique_ptr<llvm::Module> m = generate(ctx, body, scalar_input, name, avx512_);
    m->setDataLayout(tm_->createDataLayout());
    m->setTargetTriple(tm_->getTargetTriple().str());
    for (llvm::Function& fn : *m)
      if (!fn.isDeclaration()) {
        fn.addFnAttr("target-cpu", tm_->getTargetCPU());
        fn.addFnAttr("target-features", tm_->getTargetFeatureString());
      }
    emit::optimize_o3(*m, *tm_);
    if (ir_out) {
      llvm::raw_string_ostream os(*ir_out);
      m->print(os, nullptr);
    }
    if (asm_out) *asm_out = emit::emit_file(*m, *tm_, llvm::CGFT_AssemblyFile);
    return emit::emit_file(*m, *tm_, llvm::CGFT_ObjectFile);
  }

  std::mutex mu_;
  std::unique_ptr<llvm::TargetMachine> tm_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, Entry> entries_;  // every kernel loaded now
  std::list<std::string> lru_;                      // the ones the cache holds
  size_t lru_bytes_ = 0;
  uint64_t generation_ = 0;
  Limits limits_;
  DiskCache disk_{"", 0};
  std::string host_;
  std::string generator_;
  bool avx512_ = false;
  Stats stats_;
};

}  // namespace

Kernel kernel_for(const BodySpec& body, const std::vector<bool>& scalar_input) {
  return Jit::get().kernel(body, scalar_input);
}
std::string kernel_llvm_ir(const BodySpec& body, const std::vector<bool>& scalar_input) {
  return Jit::get().text(body, scalar_input, false);
}
std::string kernel_asm(const BodySpec& body, const std::vector<bool>& scalar_input) {
  return Jit::get().text(body, scalar_input, true);
}
namespace {
void collect_kernels(const Graph& g, bool assembly, std::string& out) {
  for (const auto& n : g.nodes()) {
    if (n->name() == "fused_matmul") {  // a compiled epilogue (NOTE [Compiled epilogues])
      BodySpec spec = describe_epilogue(*n);
      if (spec.ops.empty()) continue;
      std::string line = print_node(*n);
      out += "// kernel of the epilogue of " + line.substr(0, line.find('\n')) + "\n";
      std::vector<bool> contiguous(spec.params.size(), false);
      out += assembly ? kernel_asm(spec, contiguous) : kernel_llvm_ir(spec, contiguous);
      continue;
    }
    if ((n->name() == "softmax" || n->name() == "log_softmax") && unsupported_normalization(*n).empty()) {
      std::string line = print_node(*n);
      out += "// kernel of " + line.substr(0, line.find('\n')) + "\n";
      BodySpec spec = describe_normalization(*n);
      out += assembly ? kernel_asm(spec, {false}) : kernel_llvm_ir(spec, {false});
      continue;
    }
    for (int r = 0; r < n->num_regions(); ++r) {
      if (n->name() != "fusion") {
        collect_kernels(*n->region(r), assembly, out);
        continue;
      }
      std::string line = print_node(*n);
      std::string why = unsupported(*n->region(0));
      out += "// kernel of " + line.substr(0, line.find('\n')) + "\n";
      if (!why.empty()) {
        out += "//   not compiled: " + why + "\n";
        continue;
      }
      BodySpec spec = describe(*n->region(0));
      std::vector<bool> contiguous(spec.params.size(), false);
      out += assembly ? kernel_asm(spec, contiguous) : kernel_llvm_ir(spec, contiguous);
    }
  }
}
}  // namespace

std::string kernels_listing(const Graph& g, bool assembly) {
  std::string out;
  collect_kernels(g, assembly, out);
  if (out.empty()) out = "// no compiled kernels: this function has no fusion, softmax or transcendental epilogue\n";
  return out;
}

Stats stats() { return Jit::get().stats(); }
Limits limits() { return Jit::get().limits(); }
void set_limits(const Limits& l) { Jit::get().set_limits(l); }
int64_t trim_disk_cache() { return Jit::get().trim_disk(); }
std::string host_description() { return Jit::get().host(); }

}  // namespace duet::codegen::jit
