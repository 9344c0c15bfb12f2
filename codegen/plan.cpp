// Planning: for one tuple of input shapes, every slot's concrete type and
// where its buffer lives (NOTE [Program buffers] in steps.h), the arena's
// layout, and each compiled step's walk and kernel. Memoized per tuple; a
// static Program has one plan, made when it is lowered
// (NOTE [Compile at lowering] in lower.cpp).
#include <duet/codegen/steps.h>

#include <mutex>

#include <fmt/format.h>

#include <duet/graph/ops/infer_util.h>

namespace duet::codegen {

namespace {

constexpr size_t kAlign = 64;

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// A kernel step's results: inferred from the operands' concrete types when
// the Program has dynamic dims, else as declared.
void plan_kernel(const Program::Impl& p, const Step& step, Plan& plan) {
  if (!p.dynamic) {
    for (int s : step.out) plan.types[s] = p.declared[s].tensor;
  } else {
    std::vector<const TensorType*> in;
    for (int s : step.in) in.push_back(&plan.types[s]);
    SmallVec<TensorType, 2> out = infer_types(*step.op, in, step.attrs, step.loc);
    for (size_t k = 0; k < step.out.size(); ++k) plan.types[step.out[k]] = out[k];
  }
  const bool view = step.as<KernelStep>()->view;
  for (int s : step.out) {
    if (view) plan.where[s] = Where::view;
    else p.place(s, plan);
  }
}

// The parameters of a cond's or while's two regions take the types of the
// values that flow into them.
void plan_params(const Program::Impl& p, const Region& a, const Region& b, const std::vector<int>& from, Plan& plan) {
  for (size_t i = 0; i < a.params.size(); ++i) {
    plan.types[a.params[i]] = plan.types[from[i]];
    plan.types[b.params[i]] = plan.types[from[i]];
    p.place(a.params[i], plan);
    p.place(b.params[i], plan);
  }
}

// Results that take the types of a region's yields.
void plan_results(const Program::Impl& p, const Step& step, const std::vector<int>& yields, Plan& plan) {
  for (size_t k = 0; k < step.out.size(); ++k) {
    plan.types[step.out[k]] = plan.types[yields[k]];
    p.place(step.out[k], plan);
  }
}

// The shape of a compiled or GPU step's result k over its iteration space:
// the space itself, or the space reduced for the body's reduction result.
Shape result_shape(const BodySpec& body, int k, const Shape& space, const TensorType& declared) {
  if (k != body.reduction_yield) return space;
  const bool keep = declared.shape.rank() == space.rank();
  Shape shape;
  if (body.columns) {  // every dim but the last reduced: [C], or [1, ..., 1, C]
    shape = Shape(std::vector<int64_t>(keep ? static_cast<size_t>(space.rank() - 1) : 0, 1));
    shape.push_back(space.dim(space.rank() - 1));
  } else {  // the row reduction drops (or keeps as 1) the last dim
    shape = Shape(space.begin(), space.end() - 1);
    if (keep) shape.push_back(1);
  }
  return shape;
}

void plan_generated(const Program::Impl& p, const Step& step, const BodySpec& body, Plan& plan) {
  // The results span the broadcast of the inputs (every input reaches a result).
  Shape space;
  if (!broadcast_space(plan, step.in, &space))
    throw ShapeError(format_error("fusion", "inputs do not broadcast: " + step.text, step.loc));
  for (size_t k = 0; k < step.out.size(); ++k) {
    int s = step.out[k];
    plan.types[s] = TensorType{p.declared[s].tensor.dtype, result_shape(body, static_cast<int>(k), space, p.declared[s].tensor)};
    // Dims resolved at run time: the size check kernel steps get from infer (NOTE [Result sizes]).
    if (std::string problem = type_size_problem(plan.types[s], /*allow_dynamic=*/false); !problem.empty())
      throw ShapeError(format_error("fusion", "the result " + problem, step.loc));
    p.place(s, plan);
  }
  const CompiledStep* c = step.as<CompiledStep>();
  if (!c) return;  // a GPU kernel: generated when first launched
  std::vector<const Shape*> in_shapes;
  for (int s : step.in) in_shapes.push_back(&plan.types[s].shape);
  plan.runs[static_cast<size_t>(c->run_index)] = plan_compiled(body, in_shapes, space);
}

}  // namespace

bool broadcast_space(const Plan& plan, const std::vector<int>& slots, Shape* space) {
  *space = Shape{};
  for (int s : slots) {
    Shape joined;
    if (!broadcast_shapes(*space, plan.types[s].shape, &joined)) return false;
    *space = joined;
  }
  return true;
}

// Where slot s lives: an own buffer when returned, else the arena (tokens: nowhere).
void Program::Impl::place(int s, Plan& plan) const {
  if (declared[s].is_token) {
    plan.where[s] = Where::token;
  } else if (returned[s]) {
    plan.where[s] = Where::own;
  } else if (buffer_id[s] >= 0) {  // laid out once every slot's size is known (make_plan)
    plan.where[s] = Where::arena;
    size_t& b = plan.buffer_bytes[static_cast<size_t>(buffer_id[s])];
    b = std::max(b, bytes_of(plan.types[s]));
  } else {
    plan.where[s] = Where::arena;
    plan.offset[s] = plan.arena_bytes;
    plan.arena_bytes += aligned(bytes_of(plan.types[s]));
  }
}

void Program::Impl::plan_steps(const std::vector<Step>& steps, Plan& plan) const {
  for (const Step& step : steps) {
    if (step.as<KernelStep>()) {
      plan_kernel(*this, step, plan);
    } else if (const CondStep* c = step.as<CondStep>()) {
      plan_params(*this, c->then_branch, c->else_branch, step.in, plan);
      plan_steps(c->then_branch.steps, plan);
      plan_steps(c->else_branch.steps, plan);
      plan_results(*this, step, c->then_branch.yields, plan);
    } else if (const WhileStep* w = step.as<WhileStep>()) {
      plan_params(*this, w->condition, w->body, step.in, plan);
      plan_steps(w->condition.steps, plan);
      plan_steps(w->body.steps, plan);
      plan_results(*this, step, w->body.yields, plan);
    } else if (const SteppedFusionStep* f = step.as<SteppedFusionStep>()) {
      for (size_t i = 0; i < f->body.params.size(); ++i) {  // the parameters are the operands' buffers
        plan.types[f->body.params[i]] = plan.types[step.in[i]];
        plan.where[f->body.params[i]] = Where::view;
      }
      plan_steps(f->body.steps, plan);
      plan_results(*this, step, f->body.yields, plan);
    } else if (const CompiledStep* cs = step.as<CompiledStep>()) {
      plan_generated(*this, step, *cs->body, plan);
    } else if (const GpuStep* g = step.as<GpuStep>()) {
      plan_generated(*this, step, *g->body, plan);
    } else {  // print, after_all
      for (int s : step.out) plan.where[s] = Where::token;
    }
  }
}

std::shared_ptr<const Plan> Program::Impl::make_plan(const std::vector<TensorType>& inputs) const {
  auto plan = std::make_shared<Plan>();
  plan->types.resize(num_slots);
  plan->where.assign(num_slots, Where::arena);
  plan->offset.assign(num_slots, 0);
  for (int i = 0; i < num_params; ++i) {
    plan->types[i] = inputs[i];
    plan->where[i] = declared[i].is_token ? Where::token : Where::input;
  }
  for (int s : constant_slot) {
    plan->types[s] = declared[s].tensor;
    plan->where[s] = Where::constant;
  }
  plan->buffer_bytes.assign(static_cast<size_t>(num_buffers), 0);
  plan->runs.resize(static_cast<size_t>(num_runs));
  plan_steps(steps, *plan);
  std::vector<size_t> buffer_offset(static_cast<size_t>(num_buffers));
  for (size_t b = 0; b < buffer_offset.size(); ++b) {
    buffer_offset[b] = plan->arena_bytes;
    plan->arena_bytes += aligned(plan->buffer_bytes[b]);
  }
  for (int s = 0; s < num_slots; ++s)
    if (buffer_id[s] >= 0 && plan->where[s] == Where::arena) plan->offset[s] = buffer_offset[static_cast<size_t>(buffer_id[s])];
  return plan;
}

std::shared_ptr<const Plan> Program::Impl::plan_for(const std::vector<Buffer>& inputs) const {
  std::vector<int64_t> key;
  if (dynamic)
    for (const Buffer& b : inputs) {
      key.push_back(b.type.shape.rank());
      key.insert(key.end(), b.type.shape.begin(), b.type.shape.end());
    }
  {
    std::shared_lock<std::shared_mutex> lock(plans_mu);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
  }
  std::vector<TensorType> types;
  for (const Buffer& b : inputs) types.push_back(b.type);
  auto plan = make_plan(types);
  std::unique_lock<std::shared_mutex> lock(plans_mu);
  if (plans.size() > 256) plans.clear();  // many batch sizes: start over rather than grow without bound
  return plans.emplace(key, plan).first->second;
}

int count_steps(const std::vector<Step>& steps) {
  int n = 0;
  for (const Step& s : steps) {
    n += 1;
    if (const CondStep* c = s.as<CondStep>()) n += count_steps(c->then_branch.steps) + count_steps(c->else_branch.steps);
    if (const WhileStep* w = s.as<WhileStep>()) n += count_steps(w->condition.steps) + count_steps(w->body.steps);
    if (const SteppedFusionStep* f = s.as<SteppedFusionStep>()) n += count_steps(f->body.steps);
  }
  return n;
}

}  // namespace duet::codegen
