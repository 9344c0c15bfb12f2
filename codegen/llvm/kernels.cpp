// Fusion kernels through LLVM: what can be compiled, the O3 pipeline for the
// host, ORC LLJIT, and the kernel cache (IR generation: generate.cpp).
//
// NOTE [Kernel cache]
// A kernel is keyed by its body's ops and dtypes (never its shapes), which
// inputs are scalars along the run, and the CPU (triple, name, features).
// In memory: key -> entry point, for the process's life (the JIT keeps the
// code). On disk: $DUET_CACHE_DIR (default ~/.cache/duet) holds one object
// file per kernel, named by a hash of the key, behind a header holding the
// whole key (which includes when the generator was built, so a rebuilt
// duet never loads an older generator's kernels), the object's size and a
// checksum; a file whose header does not
// match (truncated, corrupt, another key with the same hash) is ignored and
// rewritten. Files are written to a unique temporary name and renamed, so
// two processes writing the same kernel at once each leave a whole file.
#include <duet/codegen/llvm/kernels.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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

#include <duet/codegen/llvm/generate.h>
#include <duet/codegen/llvm/math.h>
#include <duet/graph/error.h>
#include <duet/graph/printer.h>

namespace duet::codegen::jit {
namespace {

// ---- what can be compiled ------------------------------------------------------

bool known_scalar(const Node& n) {
  ScalarOp s = n.op().scalar_op();
  if (s == ScalarOp::none) return false;
  DType t = n.operand(0)->type().tensor.dtype;
  if (s == ScalarOp::pow && !is_floating(t)) return false;  // integer pow: a loop, left to the eager kernel
  return true;
}

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

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

class Jit {
 public:
  static Jit& get() {
    static Jit* j = new Jit();  // never destroyed: kernels live for the process
    return *j;
  }

  Kernel kernel(const BodySpec& body, const std::vector<bool>& scalar_input) {
    std::string key = host_ + "|" + generator_ + "|" + body_key(body, scalar_input);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = loaded_.find(key);
    if (it != loaded_.end()) {
      ++stats_.memory_hits;
      return Kernel{key, it->second};
    }
    const std::string name = fmt::format("duet_kernel_{:016x}", fnv1a(key));
    std::string object;
    if (!read_cache(key, name, &object)) {
      object = compile(body, scalar_input, name, nullptr, nullptr);
      ++stats_.compiled;
      write_cache(key, name, object);
    } else {
      ++stats_.disk_hits;
    }
    if (auto err = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, name)))
      throw Error("codegen: loading kernel " + name + " failed: " + error_text(std::move(err)));
    auto sym = jit_->lookup(name);
    if (!sym) throw Error("codegen: kernel " + name + " not found: " + error_text(sym.takeError()));
    RunFn fn = sym->toPtr<RunFn>();
    loaded_[key] = fn;
    return Kernel{key, fn};
  }

  std::string text(const BodySpec& body, const std::vector<bool>& scalar_input, bool assembly) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string ir, as;
    compile(body, scalar_input, "kernel", &ir, assembly ? &as : nullptr);
    return assembly ? as : ir;
  }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  const std::string& host() const { return host_; }

 private:
  Jit() {
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
    generator_ = std::string("duet codegen built ") + __DATE__ " " __TIME__ + ", math " + math_build_stamp() +
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
    if (dir && *dir) cache_dir_ = dir;
    else if (home && *home) cache_dir_ = std::string(home) + "/.cache/duet";
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
    {
      llvm::LoopAnalysisManager lam;
      llvm::FunctionAnalysisManager fam;
      llvm::CGSCCAnalysisManager cgam;
      llvm::ModuleAnalysisManager mam;
      llvm::PassBuilder pb(tm_.get());
      pb.registerModuleAnalyses(mam);
      pb.registerCGSCCAnalyses(cgam);
      pb.registerFunctionAnalyses(fam);
      pb.registerLoopAnalyses(lam);
      pb.crossRegisterProxies(lam, fam, cgam, mam);
      pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*m, mam);
    }
    if (ir_out) {
      llvm::raw_string_ostream os(*ir_out);
      m->print(os, nullptr);
    }
    auto emit = [&](llvm::CodeGenFileType type) {
      llvm::SmallVector<char, 0> buf;
      llvm::raw_svector_ostream os(buf);
      llvm::legacy::PassManager pm;
      if (tm_->addPassesToEmitFile(pm, os, nullptr, type)) throw Error("codegen: the target cannot emit this file type");
      pm.run(*m);
      return std::string(buf.begin(), buf.end());
    };
    if (asm_out) *asm_out = emit(llvm::CGFT_AssemblyFile);
    return emit(llvm::CGFT_ObjectFile);
  }

  // Disk cache (NOTE [Kernel cache]): "DUETK1\n", the key's size and bytes,
  // the object's size and checksum, then the object.
  std::string cache_path(const std::string& name) const { return cache_dir_ + "/" + name + ".o"; }

  bool read_cache(const std::string& key, const std::string& name, std::string* object) {
    if (cache_dir_.empty()) return false;
    std::error_code ec;
    if (!std::filesystem::exists(cache_path(name), ec)) return false;
    std::string data;
    try {  // any read error (a directory in the way, EIO) counts as a bad file
      std::ifstream in(cache_path(name), std::ios::binary);
      if (!in) {
        ++stats_.disk_rejected;
        return false;
      }
      data.assign(std::istreambuf_iterator<char>(in), {});
    } catch (const std::exception&) {
      ++stats_.disk_rejected;
      return false;
    }
    const std::string magic = "DUETK1\n";
    size_t pos = magic.size();
    auto take_u64 = [&](uint64_t* v) {
      if (data.size() < pos + 8) return false;
      std::memcpy(v, data.data() + pos, 8);
      pos += 8;
      return true;
    };
    uint64_t key_size = 0, obj_size = 0, sum = 0;
    bool ok = data.compare(0, magic.size(), magic) == 0 && take_u64(&key_size) && data.size() >= pos + key_size &&
              data.compare(pos, key_size, key) == 0;
    if (ok) pos += key_size;
    ok = ok && take_u64(&obj_size) && take_u64(&sum) && data.size() == pos + obj_size;
    if (ok) {
      *object = data.substr(pos);
      ok = fnv1a(*object) == sum;
    }
    if (!ok) ++stats_.disk_rejected;
    return ok;
  }

  void write_cache(const std::string& key, const std::string& name, const std::string& object) {
    if (cache_dir_.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(cache_dir_, ec);
    std::string data = "DUETK1\n";
    auto put_u64 = [&](uint64_t v) { data.append(reinterpret_cast<const char*>(&v), 8); };
    put_u64(key.size());
    data += key;
    put_u64(object.size());
    put_u64(fnv1a(object));
    data += object;
    // A unique temporary name, then an atomic rename: readers see a whole file or none.
    static std::atomic<uint64_t> counter{0};
    std::string tmp = fmt::format("{}.tmp.{}.{}", cache_path(name), ::getpid(), counter++);
    bool written = false;
    try {
      std::ofstream out(tmp, std::ios::binary);
      written = static_cast<bool>(out.write(data.data(), static_cast<std::streamsize>(data.size())));
      out.close();
      written = written && !out.fail();
    } catch (const std::exception&) {
      written = false;
    }
    if (written) std::filesystem::rename(tmp, cache_path(name), ec);
    if (!written || ec) std::filesystem::remove(tmp, ec);  // a full disk or a directory in the way: no cache, still correct
  }

  std::mutex mu_;
  std::unique_ptr<llvm::TargetMachine> tm_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, RunFn> loaded_;
  std::string host_;
  std::string generator_;
  std::string cache_dir_;
  bool avx512_ = false;
  Stats stats_;
};

}  // namespace

namespace {
// 1: a reduction over the innermost axis alone; 2: over every axis but the
// innermost; 0: neither.
int reduction_kind(const Node& n) {
  const std::string& op = n.name();
  if (op != "sum" && op != "mean" && op != "max" && op != "min") return 0;
  if (n.operand(0)->type().tensor.dtype == DType::b8) return 0;
  const Shape& in = n.operand(0)->type().tensor.shape;
  std::vector<int64_t> axes = n.attrs().get_ints("axes");
  if (axes.empty()) return 0;  // every axis
  for (int64_t& a : axes) a = a < 0 ? a + in.rank() : a;
  std::sort(axes.begin(), axes.end());
  if (axes.size() == 1 && axes[0] == in.rank() - 1) return 1;
  if (static_cast<int>(axes.size()) != in.rank() - 1) return 0;
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] != static_cast<int64_t>(k)) return 0;
  return 2;
}
}  // namespace

std::string unsupported(const Graph& body) {
  if (body.results().empty() || body.nodes().empty()) return "no results";
  const Node& last = *body.nodes().back();
  const bool reduces = last.op().has(kReduction);
  if (reduces && reduction_kind(last) == 0)
    return last.name() + " is not a sum, mean, max or min over the innermost axis alone or every other axis";
  const Shape& space = reduces ? last.operand(0)->type().tensor.shape : body.results()[0]->type().tensor.shape;
  for (const Value* r : body.results())
    if (!(reduces && r == last.result()) && !(r->type().tensor.shape == space)) return "its results differ in shape";
  for (const auto& n : body.nodes()) {
    if (reduces && n.get() == &last) continue;
    if (!n->op().has(kElementwise)) return n->name() + " is not elementwise";
    if (!known_scalar(*n)) return "no scalar code for " + n->name() + " on " + n->operand(0)->type().str();
  }
  return "";
}

BodySpec describe(const Graph& body) {
  BodySpec spec;
  std::unordered_map<const Value*, int> id;
  for (int i = 0; i < body.num_params(); ++i) {
    id[body.param(i)] = i;
    spec.params.push_back(body.param(i)->type().tensor.dtype);
  }
  for (const auto& n : body.nodes()) {
    BodySpec::Op op;
    op.scalar = n->op().scalar_op();  // none for the reduction
    op.name = n->name();
    for (Value* v : n->operands()) op.in.push_back(id.at(v));
    op.operand = n->operand(op.scalar == ScalarOp::where ? 1 : 0)->type().tensor.dtype;
    op.result = n->result()->type().tensor.dtype;
    id[n->result()] = static_cast<int>(spec.params.size() + spec.ops.size());
    spec.ops.push_back(std::move(op));
  }
  for (const Value* v : body.results()) spec.yields.push_back(id.at(v));
  if (body.nodes().back()->op().has(kReduction)) {
    spec.columns = reduction_kind(*body.nodes().back()) == 2;
    const int red = static_cast<int>(spec.params.size() + spec.ops.size()) - 1;
    for (size_t k = 0; k < spec.yields.size(); ++k)
      if (spec.yields[k] == red) spec.reduction_yield = static_cast<int>(k);
  }
  return spec;
}

std::string unsupported_normalization(const Node& n) {
  if (n.name() != "softmax" && n.name() != "log_softmax") return n.name() + " is not softmax or log_softmax";
  const TensorType& t = n.operand(0)->type().tensor;
  if (t.dtype != DType::f32) return "the row kernel is f32 only, not " + n.operand(0)->type().str();
  const int rank = t.shape.rank();
  int64_t axis = n.attrs().get_int("axis");
  if (axis < 0) axis += rank;
  if (rank == 0 || axis != rank - 1) return "not over the innermost axis";
  return "";
}

BodySpec describe_normalization(const Node& n) {
  BodySpec spec;
  spec.params = {DType::f32};
  BodySpec::Op op;
  op.name = n.name();
  op.in = {0};
  spec.ops.push_back(op);
  spec.yields = {1};
  spec.normalizes = true;
  return spec;
}

BodySpec describe_epilogue(const Node& n) {
  BodySpec spec;
  if (n.name() != "fused_matmul" || n.num_operands() < 2) return spec;
  for (int i = 0; i < n.num_operands(); ++i)
    if (n.operand(i)->type().tensor.dtype != DType::f32) return spec;
  const AttrValue* act = n.attrs().find("activation");
  const std::string activation = act ? std::get<std::string>(*act) : "none";
  ScalarOp scalar = activation == "tanh" ? ScalarOp::tanh
                    : activation == "sigmoid" ? ScalarOp::sigmoid
                    : activation == "gelu" ? ScalarOp::gelu
                                           : ScalarOp::none;
  if (scalar == ScalarOp::none) return spec;
  const int biases = n.num_operands() - 2;
  spec.params.assign(static_cast<size_t>(1 + biases), DType::f32);
  int last = 0;
  for (int k = 0; k < biases; ++k) {
    spec.ops.push_back(BodySpec::Op{ScalarOp::add, "add", {last, 1 + k}, DType::f32, DType::f32});
    last = static_cast<int>(spec.params.size() + spec.ops.size()) - 1;
  }
  spec.ops.push_back(BodySpec::Op{scalar, activation, {last}, DType::f32, DType::f32});
  spec.yields = {static_cast<int>(spec.params.size() + spec.ops.size()) - 1};
  return spec;
}

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
std::string host_description() { return Jit::get().host(); }

}  // namespace duet::codegen::jit
