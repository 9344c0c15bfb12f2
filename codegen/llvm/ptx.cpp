// PTX kernels for CUDA GPUs through LLVM's NVPTX target (ptx.h).
//
// NOTE [GPU kernels]
// A GPU kernel is the same body the host kernels compile (a BodySpec; its
// ops emitted by the shared Emitter from their scalar semantics, so no op is
// written twice), over a strided iteration space instead of a contiguous
// run: a grid-stride loop gives each thread linear indices i < n; i is split
// into coordinates over the `rank` dims (innermost first) and each
// parameter's element offset is the dot product with its strides (0 where
// it broadcasts); results are written at i. f32 transcendentals are the
// polynomials of math.cpp (no library); f64 ones and pow call CUDA's
// libdevice (__nv_exp, __nv_powf, ...), linked in as bitcode before O3.
// This machine has no GPU: the PTX is checked by ptxas for sm_80 and sm_90
// (tests/unit/test_ptx.cpp), never run.
#include <duet/codegen/llvm/ptx.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <duet/codegen/llvm/emitter.h>
#include <duet/graph/error.h>

namespace duet::codegen::ptx {
namespace {

// Whether an op calls the math library (libdevice on a GPU).
bool calls_library(const jit::BodySpec::Op& op) {
  switch (op.scalar) {
    case ScalarOp::exp: case ScalarOp::log: case ScalarOp::tanh: case ScalarOp::sigmoid:
    case ScalarOp::gelu: case ScalarOp::erf:
      return op.operand != DType::f32;
    case ScalarOp::pow: return true;
    default: return false;
  }
}

llvm::Value* sreg(llvm::IRBuilder<>& b, llvm::Intrinsic::ID id) {
  return b.CreateZExt(b.CreateIntrinsic(id, {}, {}), b.getInt64Ty());
}

void add_kernel(llvm::Module& m, const KernelSpec& k) {
  llvm::LLVMContext& ctx = m.getContext();
  const jit::BodySpec& body = k.body;
  const size_t np = body.params.size(), nr = body.yields.size();
  const int rank = k.rank;
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  std::vector<llvm::Type*> params(np + nr, ptr);
  params.push_back(i64);                                                        // n
  params.insert(params.end(), static_cast<size_t>(rank) * (1 + np), i64);      // dims, strides
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false),
                                    llvm::Function::ExternalLinkage, k.name, &m);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::NamedMDNode* annotations = m.getOrInsertNamedMetadata("nvvm.annotations");
  annotations->addOperand(llvm::MDNode::get(
      ctx, {llvm::ValueAsMetadata::get(fn), llvm::MDString::get(ctx, "kernel"),
            llvm::ValueAsMetadata::get(llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), 1))}));
  auto arg = [&](size_t i) { return fn->getArg(static_cast<unsigned>(i)); };
  llvm::Value* n = arg(np + nr);
  auto dim = [&](int d) { return arg(np + nr + 1 + static_cast<size_t>(d)); };
  auto stride = [&](size_t p, int d) {
    return arg(np + nr + 1 + static_cast<size_t>(rank) * (1 + p) + static_cast<size_t>(d));
  };

  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  jit::Emitter e(m, b, /*avx512=*/false, 0, "__nv_");
  llvm::Value* start = b.CreateAdd(b.CreateMul(sreg(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x),
                                               sreg(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x)),
                                   sreg(b, llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
  llvm::Value* step = b.CreateMul(sreg(b, llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x),
                                  sreg(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x));
  llvm::BasicBlock* entry = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto* done = llvm::BasicBlock::Create(ctx, "done", fn);
  b.CreateCondBr(b.CreateICmpSLT(start, n), loop, done);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2);
  i->addIncoming(start, entry);
  // Coordinates, innermost first, and each parameter's offset.
  std::vector<llvm::Value*> offset(np, b.getInt64(0));
  llvm::Value* rest = i;
  for (int d = rank - 1; d >= 0; --d) {
    llvm::Value* c = d == 0 ? rest : b.CreateURem(rest, dim(d));
    if (d > 0) rest = b.CreateUDiv(rest, dim(d));
    for (size_t p = 0; p < np; ++p) offset[p] = b.CreateAdd(offset[p], b.CreateMul(c, stride(p, d)));
  }
  std::vector<llvm::Value*> value(np + body.ops.size());
  for (size_t p = 0; p < np; ++p)
    value[p] = e.load(b.CreateGEP(jit::memory_type(ctx, body.params[p]), arg(p), offset[p]), body.params[p], nullptr);
  for (size_t o = 0; o < body.ops.size(); ++o) {
    std::vector<llvm::Value*> in;
    for (int v : body.ops[o].in) in.push_back(value[static_cast<size_t>(v)]);
    value[np + o] = e.op(body.ops[o], in);
  }
  for (size_t r = 0; r < nr; ++r) {
    int v = body.yields[r];
    DType t = v < static_cast<int>(np) ? body.params[static_cast<size_t>(v)]
                                       : body.ops[static_cast<size_t>(v) - np].result;
    auto* s = b.CreateStore(t == DType::b8 ? b.CreateZExt(value[static_cast<size_t>(v)], b.getInt8Ty())
                                           : value[static_cast<size_t>(v)],
                            b.CreateGEP(jit::memory_type(ctx, t), arg(np + r), i));
    (void)s;
  }
  llvm::Value* next = b.CreateAdd(i, step);
  i->addIncoming(next, b.GetInsertBlock());
  b.CreateCondBr(b.CreateICmpSLT(next, n), loop, done);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
}

const llvm::Target& nvptx_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget("nvptx64-nvidia-cuda", err);
  if (!t) throw Error("codegen: LLVM has no NVPTX target: " + err);
  return *t;
}

}  // namespace

std::string libdevice_path() {
  if (const char* v = std::getenv("DUET_LIBDEVICE"); v && *v) return v;
#ifdef DUET_LIBDEVICE
  std::error_code ec;
  if (std::filesystem::exists(DUET_LIBDEVICE, ec)) return DUET_LIBDEVICE;
#endif
  return "";
}

std::string unsupported(const jit::BodySpec& body) {
  if (body.reduction_yield >= 0) return "a reduction (not generated for GPUs yet)";
  if (body.normalizes) return "a softmax row (not generated for GPUs yet)";
  for (const jit::BodySpec::Op& op : body.ops)
    if (calls_library(op) && libdevice_path().empty())
      return op.name + " in " + std::string(dtype_name(op.operand)) + " needs CUDA's libdevice, which was not found";
  return "";
}

std::string generate(const std::vector<KernelSpec>& kernels, const std::string& sm) {
  const llvm::Target& target = nvptx_target();
  // PTX ISA 7.8: the first with sm_90 (LLVM 16's newest).
  std::unique_ptr<llvm::TargetMachine> tm(target.createTargetMachine(
      "nvptx64-nvidia-cuda", sm, "+ptx78", llvm::TargetOptions(), std::nullopt, std::nullopt,
      llvm::CodeGenOpt::Aggressive));
  if (!tm) throw Error("codegen: NVPTX has no target machine for " + sm);
  llvm::LLVMContext ctx;
  auto m = std::make_unique<llvm::Module>("duet_gpu_kernels", ctx);
  m->setTargetTriple("nvptx64-nvidia-cuda");
  m->setDataLayout(tm->createDataLayout());
  bool library = false;
  for (const KernelSpec& k : kernels) {
    if (std::string why = unsupported(k.body); !why.empty())
      throw Error("codegen: kernel " + k.name + " cannot run on a GPU: " + why);
    if (k.rank < 1 || k.rank > kMaxRank) throw Error(fmt::format("codegen: kernel {} has rank {}", k.name, k.rank));
    for (const jit::BodySpec::Op& op : k.body.ops) library = library || calls_library(op);
    add_kernel(*m, k);
  }
  if (library) {
    llvm::SMDiagnostic diag;
    std::unique_ptr<llvm::Module> lib = llvm::parseIRFile(libdevice_path(), diag, ctx);
    if (!lib) throw Error("codegen: cannot read libdevice " + libdevice_path() + ": " + diag.getMessage().str());
    lib->setTargetTriple(m->getTargetTriple());
    lib->setDataLayout(m->getDataLayout());
    if (llvm::Linker::linkModules(*m, std::move(lib), llvm::Linker::LinkOnlyNeeded))
      throw Error("codegen: linking libdevice failed");
    // libdevice asks __nvvm_reflect whether to flush denormals: no (IEEE, as on the CPU).
    m->addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz", uint32_t{0});
  }
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) throw Error("codegen: the generated GPU kernels do not verify: " + os.str());
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*m, mam);
  }
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream out(buf);
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, out, nullptr, llvm::CGFT_AssemblyFile))
    throw Error("codegen: NVPTX cannot emit PTX");
  pm.run(*m);
  return std::string(buf.begin(), buf.end());
}

}  // namespace duet::codegen::ptx
