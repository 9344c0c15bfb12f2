// LLVM IR for kernels (codegen/llvm/generate.h): the scalar loop the loop
// vectorizer widens, the explicit-vector elementwise kernel (NOTE [Explicit
// vector kernels]) and the softmax row kernel (NOTE [Compiled softmax]), each
// op emitted from its scalar semantics (graph/scalar.h, mirrored op by op).
#include <duet/codegen/llvm/generate.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>

#include <duet/codegen/emit/emitter.h>
#include <duet/codegen/emit/math.h>
#include <duet/graph/error.h>

namespace duet::codegen::jit {
namespace {

// ---- IR generation -------------------------------------------------------------

// A kernel's function in m: void name(char* const* ptrs, int64_t n), nounwind.
llvm::Function* kernel_function(llvm::Module& m, const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, llvm::Type::getInt64Ty(ctx)}, false);
  auto* fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, &m);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  return fn;
}

// m, once the verifier accepts it.
std::unique_ptr<llvm::Module> verified(std::unique_ptr<llvm::Module> m, const char* what) {
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) throw Error(fmt::format("codegen: the generated {} does not verify: {}", what, os.str()));
  return m;
}

// body(i, mask) for each whole chunk of w elements of [0, n) (mask null),
// then once for the tail, if any, with the lanes below the remainder on.
void emit_chunks(llvm::IRBuilder<>& b, llvm::Function* fn, llvm::Value* n, unsigned w,
                 const std::function<void(llvm::Value*, llvm::Value*)>& body) {
  llvm::LLVMContext& ctx = fn->getContext();
  llvm::Value* full = b.CreateAnd(n, b.getInt64(-static_cast<int64_t>(w)));
  llvm::Value* rem = b.CreateSub(n, full);
  std::vector<llvm::Constant*> lane_ids;
  for (unsigned l = 0; l < w; ++l) lane_ids.push_back(b.getInt64(l));
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx, "chunk", fn);
  auto* after = llvm::BasicBlock::Create(ctx, "chunks.done", fn);
  auto* tail = llvm::BasicBlock::Create(ctx, "tail", fn);
  auto* done = llvm::BasicBlock::Create(ctx, "pass.done", fn);
  b.CreateCondBr(b.CreateICmpSGT(full, b.getInt64(0)), loop, after);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(b.getInt64Ty(), 2);
  i->addIncoming(b.getInt64(0), pre);
  body(i, nullptr);
  llvm::Value* next = b.CreateAdd(i, b.getInt64(w));
  i->addIncoming(next, b.GetInsertBlock());
  b.CreateCondBr(b.CreateICmpSLT(next, full), loop, after);
  b.SetInsertPoint(after);
  b.CreateCondBr(b.CreateICmpSGT(rem, b.getInt64(0)), tail, done);
  b.SetInsertPoint(tail);
  body(full, b.CreateICmpULT(llvm::ConstantVector::get(lane_ids), b.CreateVectorSplat(w, rem)));
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

// Whether an elementwise body can be written with explicit vectors: no op
// calls libm (f64 transcendentals, pow, floating mod).
bool explicit_vectors(const BodySpec& body) {
  if (body.reduction_yield >= 0 || body.normalizes) return false;
  for (const BodySpec::Op& op : body.ops) {
    if (calls_math_library(op)) return false;
    if (op.scalar == ScalarOp::mod && is_floating(op.operand)) return false;
  }
  return true;
}

// NOTE [Explicit vector kernels]
// On a host with AVX-512F, an elementwise body whose ops need no libm is
// written with explicit <16 x T> vectors instead of a scalar loop for the loop
// vectorizer: each chunk of 16 elements loads every input (a broadcast one is
// splat once), computes the body lane by lane with the same scalar semantics,
// and stores; the tail is the same code with masked loads and stores. Being
// vectors in the IR, exps scale by vscalefps (same bits as the two-factor
// product; W2: two exps per element). Every other op is the instruction the
// loop vectorizer would have chosen, so results are the same bits.
std::unique_ptr<llvm::Module> generate_vector(llvm::LLVMContext& ctx, const BodySpec& body,
                                              const std::vector<bool>& scalar_input, const std::string& name) {
  constexpr unsigned kW = 16;
  auto m = std::make_unique<llvm::Module>(name, ctx);
  llvm::IRBuilder<> b(ctx);
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Function* fn = kernel_function(*m, name);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  emit::Emitter e(*m, b, /*avx512=*/true, kW);
  const int np = static_cast<int>(body.params.size());
  std::vector<llvm::Value*> base;
  for (int i = 0; i < np + static_cast<int>(body.yields.size()); ++i)
    base.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, fn->getArg(0), i)));
  // In registers: b8 as i1 lanes; in memory: i8.
  auto vec_type = [&](DType t) { return llvm::FixedVectorType::get(emit::memory_type(ctx, t), kW); };
  std::vector<llvm::Value*> splat(body.params.size(), nullptr);
  for (int k = 0; k < np; ++k) {
    if (!scalar_input[k]) continue;
    llvm::Value* v = b.CreateVectorSplat(kW, b.CreateLoad(emit::memory_type(ctx, body.params[k]), base[k]));
    splat[k] = body.params[k] == DType::b8 ? b.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType())) : v;
  }
  emit_chunks(b, fn, fn->getArg(1), kW, [&](llvm::Value* i, llvm::Value* mask) {
    std::vector<llvm::Value*> value(body.params.size() + body.ops.size(), nullptr);
    for (int k = 0; k < np; ++k) {
      if (splat[k]) {
        value[k] = splat[k];
        continue;
      }
      const DType t = body.params[k];
      llvm::Type* vt = vec_type(t);
      llvm::Value* p = b.CreateGEP(emit::memory_type(ctx, t), base[k], i);
      const llvm::Align align(dtype_size(t));
      llvm::Value* v = mask ? static_cast<llvm::Value*>(b.CreateMaskedLoad(vt, p, align, mask, llvm::Constant::getNullValue(vt)))
                            : b.CreateAlignedLoad(vt, p, align);
      value[k] = t == DType::b8 ? b.CreateICmpNE(v, llvm::Constant::getNullValue(vt)) : v;
    }
    for (size_t k = 0; k < body.ops.size(); ++k) {
      std::vector<llvm::Value*> in;
      for (int v : body.ops[k].in) in.push_back(value[static_cast<size_t>(v)]);
      value[static_cast<size_t>(np) + k] = e.op(body.ops[k], in);
    }
    for (size_t r = 0; r < body.yields.size(); ++r) {
      const int v = body.yields[r];
      const DType t = v < np ? body.params[static_cast<size_t>(v)] : body.ops[static_cast<size_t>(v - np)].result;
      llvm::Value* out = value[static_cast<size_t>(v)];
      if (t == DType::b8) out = b.CreateZExt(out, vec_type(t));
      llvm::Value* p = b.CreateGEP(emit::memory_type(ctx, t), base[static_cast<size_t>(np) + r], i);
      const llvm::Align align(dtype_size(t));
      if (mask) b.CreateMaskedStore(out, p, align, mask);
      else b.CreateAlignedStore(out, p, align);
    }
  });
  b.CreateRetVoid();
  return verified(std::move(m), "vector kernel");
}

// NOTE [Compiled softmax]
// softmax and log_softmax over the innermost axis of an f32 tensor compile to
// a row kernel written with explicit <16 x float> vectors (the loop vectorizer
// cannot reorder an f64 sum without fast-math, and a fixed order is the
// point): pass 1, the row's max and whether it holds a NaN; pass 2,
// e = exp(x - shift) stored into y and summed into two <8 x double>
// accumulators, lane l taking elements j = l (mod 16); pass 3, y * (1/sum)
// or x - shift - log(sum). A row's tail is the same code with masked loads
// and stores. Every step is the eager kernel's (backends/cpu/reduce.cpp),
// including the sum order (NOTE [Softmax sum order]), so compiled and eager
// softmax agree to the bit. The row stays in L1 between passes, and pass 2
// prefetches the next row, a line per chunk, so the DRAM reads of the next
// row's first pass overlap this row's exps (W3a, 2 threads, A/B in one
// period: 42, 42, 49 -> 51, 50, 49 GB/s).
// The row kernel's IR, pass by pass: the builder state the passes share.
class SoftmaxRow {
 public:
  static constexpr unsigned kW = 16;
  SoftmaxRow(llvm::Module& m, const std::string& name, bool avx512)
      : m_(m), ctx_(m.getContext()), b_(ctx_), avx512_(avx512), ptr_(llvm::PointerType::getUnqual(ctx_)),
        f32_(b_.getFloatTy()), f64_(b_.getDoubleTy()), vf_(llvm::FixedVectorType::get(f32_, kW)),
        vd_(llvm::FixedVectorType::get(f64_, kW / 2)) {
    fn_ = kernel_function(m, name);
    entry_ = llvm::BasicBlock::Create(ctx_, "entry", fn_);
    b_.SetInsertPoint(entry_);
    x_ = b_.CreateLoad(ptr_, b_.CreateConstGEP1_64(ptr_, fn_->getArg(0), 0), "x");
    y_ = b_.CreateLoad(ptr_, b_.CreateConstGEP1_64(ptr_, fn_->getArg(0), 1), "y");
    next_ = b_.CreateLoad(ptr_, b_.CreateConstGEP1_64(ptr_, fn_->getArg(0), 2), "next");
    n_ = fn_->getArg(1);
  }

  // Pass 1: the max (a NaN never wins a comparison) and whether a NaN was
  // seen; the shift is NaN if one was, 0 for a row of -inf, else the max.
  llvm::Value* shift() {
    const double inf = std::numeric_limits<double>::infinity();
    llvm::AllocaInst* mx = slot(vf_, llvm::ConstantFP::get(vf_, -inf));
    llvm::AllocaInst* nan = slot(llvm::FixedVectorType::get(b_.getInt1Ty(), kW),
                                 llvm::Constant::getNullValue(llvm::FixedVectorType::get(b_.getInt1Ty(), kW)));
    for_each_chunk([&](llvm::Value* i, llvm::Value* mask) {
      llvm::Value* v = load(x_, i, mask, -inf);
      llvm::Value* cur = b_.CreateLoad(vf_, mx);
      b_.CreateStore(b_.CreateSelect(b_.CreateFCmpOGT(v, cur), v, cur), mx);
      b_.CreateStore(b_.CreateOr(b_.CreateLoad(nan->getAllocatedType(), nan), b_.CreateFCmpUNO(v, v)), nan);
    });
    llvm::Value* mv = b_.CreateLoad(vf_, mx);
    llvm::Value* top = b_.CreateExtractElement(mv, uint64_t{0});
    for (unsigned l = 1; l < kW; ++l) {
      llvm::Value* e = b_.CreateExtractElement(mv, uint64_t{l});
      top = b_.CreateSelect(b_.CreateFCmpOGT(e, top), e, top);
    }
    llvm::Value* any_nan = b_.CreateOrReduce(b_.CreateLoad(nan->getAllocatedType(), nan));
    llvm::Value* shift = b_.CreateSelect(any_nan, llvm::ConstantFP::getNaN(f32_), top);
    return b_.CreateSelect(b_.CreateFCmpOEQ(shift, llvm::ConstantFP::get(f32_, -inf)), llvm::ConstantFP::get(f32_, 0.0),
                           shift);
  }

  // Pass 2: exp(x - shift) into y, summed in f64 lanes; returns the sum.
  llvm::Value* exps_and_sum(llvm::Value* shift_v) {
    llvm::AllocaInst* lo = slot(vd_, llvm::Constant::getNullValue(vd_));
    llvm::AllocaInst* hi = slot(vd_, llvm::Constant::getNullValue(vd_));
    std::vector<int> lo_half, hi_half;
    for (unsigned l = 0; l < kW / 2; ++l) {
      lo_half.push_back(static_cast<int>(l));
      hi_half.push_back(static_cast<int>(l + kW / 2));
    }
    for_each_chunk([&](llvm::Value* i, llvm::Value* mask) {
      // One 64-byte line of the next row per chunk: its DRAM reads overlap this
      // pass's arithmetic instead of stalling the next row's first pass.
      b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                         {b_.CreateGEP(f32_, next_, i), b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
      llvm::Value* e = emit::emit_exp_f32(b_, b_.CreateFSub(load(x_, i, mask, 0.0), shift_v), avx512_);
      store(e, y_, i, mask);
      if (mask) e = b_.CreateSelect(mask, e, llvm::Constant::getNullValue(vf_));  // adds +0: the eager tail skips them
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(vd_, lo), b_.CreateFPExt(b_.CreateShuffleVector(e, lo_half), vd_)), lo);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(vd_, hi), b_.CreateFPExt(b_.CreateShuffleVector(e, hi_half), vd_)), hi);
    });
    // Lanes l and l + w, w = 8, 4, 2, 1.
    llvm::Value* sum = b_.CreateFAdd(b_.CreateLoad(vd_, lo), b_.CreateLoad(vd_, hi));
    for (int w = static_cast<int>(kW / 4); w >= 1; w /= 2) {
      std::vector<int> first, second;
      for (int l = 0; l < w; ++l) {
        first.push_back(l);
        second.push_back(l + w);
      }
      sum = b_.CreateFAdd(b_.CreateShuffleVector(sum, first), b_.CreateShuffleVector(sum, second));
    }
    return b_.CreateExtractElement(sum, uint64_t{0});
  }

  // Pass 3: y * (1/sum), or x - shift - log(sum).
  void normalize(bool log, llvm::Value* shift_v, llvm::Value* total) {
    if (log) {
      llvm::FunctionCallee logf = m_.getOrInsertFunction("log", llvm::FunctionType::get(f64_, {f64_}, false));
      llvm::Value* lse = b_.CreateVectorSplat(kW, b_.CreateFPTrunc(b_.CreateCall(logf, {total}), f32_));
      for_each_chunk([&](llvm::Value* i, llvm::Value* mask) {
        store(b_.CreateFSub(b_.CreateFSub(load(x_, i, mask, 0.0), shift_v), lse), y_, i, mask);
      });
    } else {
      llvm::Value* inv =
          b_.CreateVectorSplat(kW, b_.CreateFPTrunc(b_.CreateFDiv(llvm::ConstantFP::get(f64_, 1.0), total), f32_));
      for_each_chunk([&](llvm::Value* i, llvm::Value* mask) { store(b_.CreateFMul(load(y_, i, mask, 0.0), inv), y_, i, mask); });
    }
    b_.CreateRetVoid();
  }

  llvm::IRBuilder<>& builder() { return b_; }

 private:
  // Loop-carried values live in allocas, which O3 turns into phis.
  llvm::AllocaInst* slot(llvm::Type* t, llvm::Value* init) {
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    llvm::AllocaInst* a = eb.CreateAlloca(t);
    b_.CreateStore(init, a);
    return a;
  }
  llvm::Value* load(llvm::Value* base, llvm::Value* i, llvm::Value* mask, double pass) {
    llvm::Value* p = b_.CreateGEP(f32_, base, i);
    if (!mask) return b_.CreateAlignedLoad(vf_, p, llvm::Align(4));
    return b_.CreateMaskedLoad(vf_, p, llvm::Align(4), mask, llvm::ConstantFP::get(vf_, pass));
  }
  void store(llvm::Value* v, llvm::Value* base, llvm::Value* i, llvm::Value* mask) {
    llvm::Value* p = b_.CreateGEP(f32_, base, i);
    if (mask) b_.CreateMaskedStore(v, p, llvm::Align(4), mask);
    else b_.CreateAlignedStore(v, p, llvm::Align(4));
  }
  void for_each_chunk(const std::function<void(llvm::Value*, llvm::Value*)>& body) { emit_chunks(b_, fn_, n_, kW, body); }

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  bool avx512_;
  llvm::Type* ptr_;
  llvm::Type* f32_;
  llvm::Type* f64_;
  llvm::FixedVectorType* vf_;
  llvm::FixedVectorType* vd_;
  llvm::Function* fn_ = nullptr;
  llvm::BasicBlock* entry_ = nullptr;
  llvm::Value *x_ = nullptr, *y_ = nullptr, *next_ = nullptr, *n_ = nullptr;
};

std::unique_ptr<llvm::Module> generate_softmax(llvm::LLVMContext& ctx, bool log, const std::string& name, bool avx512) {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  SoftmaxRow row(*m, name, avx512);
  llvm::Value* shift_v = row.builder().CreateVectorSplat(SoftmaxRow::kW, row.shift());
  llvm::Value* total = row.exps_and_sum(shift_v);
  row.normalize(log, shift_v, total);
  return verified(std::move(m), "softmax kernel");
}

// A reduction's accumulator in the loop: a phi for a row reduction (f64 for
// floating sums, as the eager kernel), the accumulator row in memory for a
// column reduction, combined element by element.
struct Accumulator {
  llvm::Type* type = nullptr;
  llvm::Value* next = nullptr;  // the value after this iteration
};

Accumulator accumulate(llvm::IRBuilder<>& b, emit::Emitter& e, const BodySpec::Op& red, bool columns, llvm::Value* x,
                       llvm::Value* out, llvm::Value* i, llvm::MDNode* group, llvm::BasicBlock* entry) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::BasicBlock* loop = b.GetInsertBlock();
  const DType t = red.operand;
  const bool sum = red.name == "sum" || red.name == "mean";
  Accumulator acc;
  acc.type = sum && is_floating(t) ? b.getDoubleTy() : emit::memory_type(ctx, t);
  llvm::Value* slot = nullptr;
  llvm::Value* prev;
  llvm::PHINode* phi = nullptr;
  if (columns) {
    slot = b.CreateGEP(acc.type, out, i);
    auto* ld = b.CreateLoad(acc.type, slot);
    ld->setMetadata(llvm::LLVMContext::MD_access_group, group);
    prev = ld;
  } else {
    phi = llvm::PHINode::Create(acc.type, 2, "acc", &*loop->getFirstInsertionPt());
    phi->addIncoming(emit::reduction_identity(b, red.name, t, acc.type), entry);
    prev = phi;
  }
  if (sum) {
    llvm::Value* xv = is_floating(t) ? b.CreateFPExt(x, acc.type) : x;
    acc.next = is_floating(t) ? b.CreateFAdd(prev, xv) : b.CreateAdd(prev, xv);
  } else {
    BodySpec::Op pick{red.name == "max" ? ScalarOp::maximum : ScalarOp::minimum, red.name, {}, t, t};
    acc.next = e.op(pick, {prev, x});
  }
  if (columns) {
    auto* st = b.CreateStore(acc.next, slot);
    st->setMetadata(llvm::LLVMContext::MD_access_group, group);
  } else {
    phi->addIncoming(acc.next, loop);
  }
  return acc;
}

// After the loop, a row reduction's result: the identity for an empty row,
// T(acc) for floating sums, T(double(T(sum)) * (1.0 / n)) for a mean, as the
// eager kernel.
void store_row_result(llvm::IRBuilder<>& b, const BodySpec::Op& red, const Accumulator& acc, llvm::BasicBlock* entry,
                      llvm::BasicBlock* loop, llvm::Value* n, llvm::Value* out_ptr) {
  llvm::LLVMContext& ctx = b.getContext();
  const DType t = red.operand;
  llvm::PHINode* result = b.CreatePHI(acc.type, 2);
  result->addIncoming(emit::reduction_identity(b, red.name, t, acc.type), entry);
  result->addIncoming(acc.next, loop);
  llvm::Value* out = result;
  if ((red.name == "sum" || red.name == "mean") && is_floating(t)) {
    out = b.CreateFPTrunc(out, emit::memory_type(ctx, t));
    if (red.name == "mean") {
      llvm::Value* scale = b.CreateFDiv(llvm::ConstantFP::get(b.getDoubleTy(), 1.0), b.CreateSIToFP(n, b.getDoubleTy()));
      out = b.CreateFPTrunc(b.CreateFMul(b.CreateFPExt(out, b.getDoubleTy()), scale), emit::memory_type(ctx, t));
    }
  }
  b.CreateStore(out, out_ptr);
}

// The loop's accesses are parallel (group) and it should be vectorized.
void mark_parallel(llvm::Instruction* back_branch, llvm::MDNode* group) {
  llvm::LLVMContext& ctx = back_branch->getContext();
  llvm::MDNode* parallel = llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.parallel_accesses"), group});
  llvm::MDNode* vectorize = llvm::MDNode::get(
      ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
            llvm::ConstantAsMetadata::get(llvm::ConstantInt::getTrue(ctx))});
  llvm::MDNode* self = llvm::MDNode::getDistinct(ctx, {nullptr, parallel, vectorize});
  self->replaceOperandWith(0, self);
  back_branch->setMetadata(llvm::LLVMContext::MD_loop, self);
}

}  // namespace

// avx512: the host has AVX-512F (vscalefps in vector exps).
std::unique_ptr<llvm::Module> generate(llvm::LLVMContext& ctx, const BodySpec& body, const std::vector<bool>& scalar_input,
                                       const std::string& name, bool avx512) {
  if (body.normalizes) return generate_softmax(ctx, body.ops.at(0).name == "log_softmax", name, avx512);
  if (avx512 && explicit_vectors(body)) return generate_vector(ctx, body, scalar_input, name);
  auto m = std::make_unique<llvm::Module>(name, ctx);
  llvm::IRBuilder<> b(ctx);
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Function* fn = kernel_function(*m, name);
  llvm::Value* ptrs = fn->getArg(0);
  llvm::Value* n = fn->getArg(1);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto* loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  b.SetInsertPoint(entry);
  emit::Emitter e(*m, b, avx512);
  // Every iteration reads and writes its own index only (an output may be an
  // input's buffer, at the same index): the accesses are parallel.
  llvm::MDNode* group = llvm::MDNode::getDistinct(ctx, {});
  const int np = static_cast<int>(body.params.size());
  std::vector<llvm::Value*> base;
  std::vector<llvm::Value*> value(body.params.size() + body.ops.size(), nullptr);
  for (int i = 0; i < np + static_cast<int>(body.yields.size()); ++i)
    base.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, ptrs, i)));
  for (int i = 0; i < np; ++i)
    if (scalar_input[i]) value[i] = e.load(base[i], body.params[i], nullptr);
  b.CreateCondBr(b.CreateICmpSGT(n, b.getInt64(0)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(b.getInt64Ty(), 2);
  i->addIncoming(b.getInt64(0), entry);
  for (int k = 0; k < np; ++k)
    if (!scalar_input[k]) value[k] = e.load(b.CreateGEP(emit::memory_type(ctx, body.params[k]), base[k], i), body.params[k], group);
  const size_t n_ew = body.ops.size() - (body.reduction_yield >= 0 ? 1 : 0);
  for (size_t k = 0; k < n_ew; ++k) {
    std::vector<llvm::Value*> in;
    for (int v : body.ops[k].in) in.push_back(value[v]);
    value[np + k] = e.op(body.ops[k], in);
  }
  for (size_t r = 0; r < body.yields.size(); ++r) {
    if (static_cast<int>(r) == body.reduction_yield) continue;
    int v = body.yields[r];
    DType t = v < np ? body.params[v] : body.ops[v - np].result;
    e.store(value[v], b.CreateGEP(emit::memory_type(ctx, t), base[np + r], i), t, group);
  }
  const BodySpec::Op* red = body.reduction_yield >= 0 ? &body.ops.back() : nullptr;
  Accumulator acc;
  if (red) acc = accumulate(b, e, *red, body.columns, value[red->in[0]], base[np + body.reduction_yield], i, group, entry);
  llvm::Value* next = b.CreateAdd(i, b.getInt64(1));
  i->addIncoming(next, loop);
  auto* br = b.CreateCondBr(b.CreateICmpSLT(next, n), loop, exit);
  mark_parallel(br, group);
  b.SetInsertPoint(exit);
  if (red && !body.columns) store_row_result(b, *red, acc, entry, loop, n, base[np + body.reduction_yield]);
  b.CreateRetVoid();
  return verified(std::move(m), "kernel");
}

const char* generate_build_stamp() { return __DATE__ " " __TIME__; }

}  // namespace duet::codegen::jit
