// PTX kernels for CUDA GPUs through LLVM's NVPTX target (ptx.h).
//
// NOTE [GPU kernels]
// A GPU kernel is the same body the host kernels compile (a BodySpec; its
// ops emitted by the shared Emitter from their scalar semantics, so no op is
// written twice), over a strided iteration space instead of a contiguous
// run: a grid-stride loop gives each thread linear indices i < n; i is split
// into coordinates over the `rank` dims (innermost first) and each
// parameter's element offset is the dot product with its strides (0 where
// it broadcasts); results are written at i. A body ending in a row
// reduction (the innermost axis) runs a block of 256 threads per row
// (grid-stride over rows): the threads stride along the row, then a tree over
// shared memory; the launch must use 256 threads. A column reduction (every
// axis but the innermost) gives each thread whole columns. Accumulators and
// the finish (f64 for floating sums, mean's scaling) are the CPU kernels',
// but the order of the additions is not, so GPU sums are not the CPU's bits.
// f32 transcendentals are the
// polynomials of codegen/emit/math.cpp (no library); f64 ones and pow call CUDA's
// libdevice (__nv_exp, __nv_powf, ...), linked in as bitcode before O3.
// This machine has no GPU: the PTX is checked by ptxas for sm_80 and sm_90
// (tests/unit/test_ptx.cpp), never run.
#include <duet/codegen/gpu/ptx.h>

#include <cstdlib>
#include <functional>
#include <limits>
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

#include <duet/codegen/emit/emitter.h>
#include <duet/codegen/emit/toolchain.h>
#include <duet/graph/error.h>

namespace duet::codegen::ptx {
namespace {

// Block size of the reduction kernels: their launch must use it (the tree
// over shared memory is unrolled for it).
constexpr int kReduceBlock = 256;

// One kernel's IR (NOTE [GPU kernels]).
class KernelBuilder {
 public:
  KernelBuilder(llvm::Module& m, const KernelSpec& k)
      : m_(m), ctx_(m.getContext()), k_(k), body_(k.body), np_(body_.params.size()), nr_(body_.yields.size()),
        b_(ctx_), e_(m, b_, /*avx512=*/false, 0, "__nv_") {
    llvm::Type* ptr = llvm::PointerType::getUnqual(ctx_);
    llvm::Type* i64 = b_.getInt64Ty();
    std::vector<llvm::Type*> params(np_ + nr_, ptr);
    params.push_back(i64);                                                          // n
    params.insert(params.end(), static_cast<size_t>(k.rank) * (1 + np_), i64);   // dims, strides
    fn_ = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                 llvm::Function::ExternalLinkage, k.name, &m);
    fn_->addFnAttr(llvm::Attribute::NoUnwind);
    m.getOrInsertNamedMetadata("nvvm.annotations")
        ->addOperand(llvm::MDNode::get(ctx_, {llvm::ValueAsMetadata::get(fn_), llvm::MDString::get(ctx_, "kernel"),
                                              llvm::ValueAsMetadata::get(b_.getInt32(1))}));
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    red_ = body_.reduction_yield >= 0 ? &body_.ops.back() : nullptr;
  }

  void build() {
    if (!red_) elementwise();
    else if (body_.columns) columns();
    else rows();
    b_.CreateRetVoid();
  }

 private:
  llvm::Value* arg(size_t i) { return fn_->getArg(static_cast<unsigned>(i)); }
  llvm::Value* n() { return arg(np_ + nr_); }
  llvm::Value* dim(int d) { return arg(np_ + nr_ + 1 + static_cast<size_t>(d)); }
  llvm::Value* stride(size_t p, int d) {
    return arg(np_ + nr_ + 1 + static_cast<size_t>(k_.rank) * (1 + p) + static_cast<size_t>(d));
  }
  llvm::Value* sreg(llvm::Intrinsic::ID id) { return b_.CreateZExt(b_.CreateIntrinsic(id, {}, {}), b_.getInt64Ty()); }
  DType type_of(int v) const {
    return v < static_cast<int>(np_) ? body_.params[static_cast<size_t>(v)] : body_.ops[static_cast<size_t>(v) - np_].result;
  }

  // for (i = start; i < limit; i += step) body(i)
  void loop(llvm::Value* start, llvm::Value* limit, llvm::Value* step, const std::function<void(llvm::Value*)>& body) {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* head = llvm::BasicBlock::Create(ctx_, "loop", fn_);
    auto* done = llvm::BasicBlock::Create(ctx_, "loop.done", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(start, limit), head, done);
    b_.SetInsertPoint(head);
    llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2);
    i->addIncoming(start, pre);
    body(i);
    llvm::Value* next = b_.CreateAdd(i, step);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, limit), head, done);
    b_.SetInsertPoint(done);
  }

  // The body's values at element idx of the iteration space (row-major
  // linear index): each parameter read at its strided offset, then the ops
  // (all but a final reduction).
  std::vector<llvm::Value*> element(llvm::Value* idx) {
    std::vector<llvm::Value*> offset(np_, b_.getInt64(0));
    llvm::Value* rest = idx;
    for (int d = k_.rank - 1; d >= 0; --d) {
      llvm::Value* c = d == 0 ? rest : b_.CreateURem(rest, dim(d));
      if (d > 0) rest = b_.CreateUDiv(rest, dim(d));
      for (size_t p = 0; p < np_; ++p) offset[p] = b_.CreateAdd(offset[p], b_.CreateMul(c, stride(p, d)));
    }
    std::vector<llvm::Value*> value(np_ + body_.ops.size(), nullptr);
    for (size_t p = 0; p < np_; ++p)
      value[p] = e_.load(b_.CreateGEP(emit::memory_type(ctx_, body_.params[p]), arg(p), offset[p]), body_.params[p], nullptr);
    const size_t n_ops = body_.ops.size() - (red_ ? 1 : 0);
    for (size_t o = 0; o < n_ops; ++o) {
      std::vector<llvm::Value*> in;
      for (int v : body_.ops[o].in) in.push_back(value[static_cast<size_t>(v)]);
      value[np_ + o] = e_.op(body_.ops[o], in);
    }
    return value;
  }
  // The results of the space's shape, written at idx.
  void store_elementwise(const std::vector<llvm::Value*>& value, llvm::Value* idx) {
    for (size_t r = 0; r < nr_; ++r) {
      if (static_cast<int>(r) == body_.reduction_yield) continue;
      int v = body_.yields[r];
      DType t = type_of(v);
      llvm::Value* x = value[static_cast<size_t>(v)];
      b_.CreateStore(t == DType::b8 ? b_.CreateZExt(x, b_.getInt8Ty()) : x,
                     b_.CreateGEP(emit::memory_type(ctx_, t), arg(np_ + r), idx));
    }
  }

  void elementwise() {
    llvm::Value* start = b_.CreateAdd(b_.CreateMul(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x),
                                                   sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x)),
                                      sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
    llvm::Value* step = b_.CreateMul(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x),
                                     sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x));
    loop(start, n(), step, [&](llvm::Value* i) { store_elementwise(element(i), i); });
  }

  // The reduction's accumulator: f64 for floating sums (as on the CPU), else
  // the operand's type; combining and finishing as the CPU kernels do.
  DType operand() const { return red_->operand; }
  bool sum() const { return red_->name == "sum" || red_->name == "mean"; }
  llvm::Type* acc_type() {
    return sum() && is_floating(operand()) ? b_.getDoubleTy() : emit::memory_type(ctx_, operand());
  }
  llvm::Value* identity() { return emit::reduction_identity(b_, red_->name, operand(), acc_type()); }
  llvm::Value* combine(llvm::Value* acc, llvm::Value* x, bool widen) {
    const DType t = operand();
    if (sum()) {
      if (widen && is_floating(t)) x = b_.CreateFPExt(x, acc_type());
      return is_floating(t) ? b_.CreateFAdd(acc, x) : b_.CreateAdd(acc, x);
    }
    BodySpec::Op pick{red_->name == "max" ? ScalarOp::maximum : ScalarOp::minimum, red_->name, {}, t, t};
    return e_.op(pick, {acc, x});
  }
  // T(acc), and for a mean T(double(T(sum)) * (1.0 / count)).
  llvm::Value* finish(llvm::Value* acc, llvm::Value* count) {
    if (!(sum() && is_floating(operand()))) return acc;
    llvm::Type* t = emit::memory_type(ctx_, operand());
    llvm::Value* out = b_.CreateFPTrunc(acc, t);
    if (red_->name != "mean") return out;
    llvm::Value* scale = b_.CreateFDiv(llvm::ConstantFP::get(b_.getDoubleTy(), 1.0), b_.CreateSIToFP(count, b_.getDoubleTy()));
    return b_.CreateFPTrunc(b_.CreateFMul(b_.CreateFPExt(out, b_.getDoubleTy()), scale), t);
  }
  llvm::Value* reduced(const std::vector<llvm::Value*>& value) { return value[static_cast<size_t>(red_->in[0])]; }
  llvm::Value* result_ptr() { return arg(np_ + static_cast<size_t>(body_.reduction_yield)); }

  // Each block reduces rows blockIdx.x, + gridDim.x, ...: its 256 threads
  // stride over the row, then a tree over shared memory.
  void rows() {
    llvm::Value* row_len = dim(k_.rank - 1);
    // The rows: every dim but the last (an empty row still stores its identity, as on the CPU).
    llvm::Value* count = b_.getInt64(1);
    for (int d = 0; d + 1 < k_.rank; ++d) count = b_.CreateMul(count, dim(d));
    llvm::Value* tid = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x);
    llvm::Value* block = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x);
    auto* shared_type = llvm::ArrayType::get(acc_type(), kReduceBlock);
    auto* shared = new llvm::GlobalVariable(m_, shared_type, false, llvm::GlobalValue::InternalLinkage,
                                            llvm::UndefValue::get(shared_type), k_.name + ".partials", nullptr,
                                            llvm::GlobalValue::NotThreadLocal, 3);
    auto slot = [&](llvm::Value* i) { return b_.CreateInBoundsGEP(shared_type, shared, {b_.getInt64(0), i}); };
    loop(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x), count, sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x),
         [&](llvm::Value* r) {
           llvm::Value* row_start = b_.CreateMul(r, row_len);
           llvm::AllocaInst* acc = nullptr;
           {
             llvm::IRBuilder<>::InsertPointGuard guard(b_);
             b_.SetInsertPoint(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
             acc = b_.CreateAlloca(acc_type());
           }
           b_.CreateStore(identity(), acc);
           loop(tid, row_len, block, [&](llvm::Value* j) {
             llvm::Value* idx = b_.CreateAdd(row_start, j);
             std::vector<llvm::Value*> value = element(idx);
             store_elementwise(value, idx);
             b_.CreateStore(combine(b_.CreateLoad(acc_type(), acc), reduced(value), true), acc);
           });
           b_.CreateStore(b_.CreateLoad(acc_type(), acc), slot(tid));
           b_.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
           for (int half = kReduceBlock / 2; half > 0; half /= 2) {
             auto* add = llvm::BasicBlock::Create(ctx_, "tree", fn_);
             auto* next = llvm::BasicBlock::Create(ctx_, "tree.next", fn_);
             b_.CreateCondBr(b_.CreateICmpULT(tid, b_.getInt64(half)), add, next);
             b_.SetInsertPoint(add);
             llvm::Value* other = b_.CreateLoad(acc_type(), slot(b_.CreateAdd(tid, b_.getInt64(half))));
             b_.CreateStore(combine(b_.CreateLoad(acc_type(), slot(tid)), other, false), slot(tid));
             b_.CreateBr(next);
             b_.SetInsertPoint(next);
             b_.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
           }
           auto* first = llvm::BasicBlock::Create(ctx_, "store", fn_);
           auto* after = llvm::BasicBlock::Create(ctx_, "stored", fn_);
           b_.CreateCondBr(b_.CreateICmpEQ(tid, b_.getInt64(0)), first, after);
           b_.SetInsertPoint(first);
           llvm::Value* out = finish(b_.CreateLoad(acc_type(), slot(b_.getInt64(0))), row_len);
           b_.CreateStore(out, b_.CreateGEP(emit::memory_type(ctx_, operand()), result_ptr(), r));
           b_.CreateBr(after);
           b_.SetInsertPoint(after);
           b_.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});  // the partials are reused by the next row
         });
  }

  // Each thread owns columns (grid-stride) and walks down every row.
  void columns() {
    llvm::Value* cols = dim(k_.rank - 1);
    llvm::Value* rows = b_.CreateSelect(b_.CreateICmpEQ(cols, b_.getInt64(0)), b_.getInt64(0), b_.CreateUDiv(n(), cols));
    llvm::Value* start = b_.CreateAdd(b_.CreateMul(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x),
                                                   sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x)),
                                      sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
    llvm::Value* step = b_.CreateMul(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x),
                                     sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x));
    llvm::AllocaInst* acc = nullptr;
    {
      llvm::IRBuilder<>::InsertPointGuard guard(b_);
      b_.SetInsertPoint(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
      acc = b_.CreateAlloca(acc_type());
    }
    loop(start, cols, step, [&](llvm::Value* c) {
      b_.CreateStore(identity(), acc);
      loop(b_.getInt64(0), rows, b_.getInt64(1), [&](llvm::Value* r) {
        llvm::Value* idx = b_.CreateAdd(b_.CreateMul(r, cols), c);
        std::vector<llvm::Value*> value = element(idx);
        store_elementwise(value, idx);
        b_.CreateStore(combine(b_.CreateLoad(acc_type(), acc), reduced(value), true), acc);
      });
      llvm::Value* out = finish(b_.CreateLoad(acc_type(), acc), rows);
      b_.CreateStore(out, b_.CreateGEP(emit::memory_type(ctx_, operand()), result_ptr(), c));
    });
  }

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  const KernelSpec& k_;
  const BodySpec& body_;
  const size_t np_, nr_;
  llvm::IRBuilder<> b_;
  emit::Emitter e_;
  llvm::Function* fn_ = nullptr;
  const BodySpec::Op* red_ = nullptr;
};

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
    if (std::string why = gpu_refusal(k.body); !why.empty())
      throw Error("codegen: kernel " + k.name + " cannot run on a GPU: " + why);
    if (k.rank < 1 || k.rank > kMaxGpuRank) throw Error(fmt::format("codegen: kernel {} has rank {}", k.name, k.rank));
    for (const BodySpec::Op& op : k.body.ops) library = library || calls_math_library(op);
    KernelBuilder(*m, k).build();
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
  emit::optimize_o3(*m, *tm);
  return emit::emit_file(*m, *tm, llvm::CGFT_AssemblyFile);
}

}  // namespace duet::codegen::ptx
