// The IR (DESIGN.md §2.3): SSA graphs of op nodes. A Graph is a function or a
// region: typed parameters, an ordered node list, and results (`return` for a
// function, `yield` for a region). Nodes refer to OpDefs, carry attributes, a
// source location and optional regions (cond, while, fusion).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <duet/graph/op_def.h>

namespace duet {

class Graph;
class Node;

// The type of an SSA value: a tensor type (dims may be -1, dynamic) or the
// token that orders side effects.
struct ValueType {
  bool is_token = false;
  TensorType tensor;
  ValueType() = default;
  ValueType(const TensorType& t) : tensor(t) {}  // NOLINT
  static ValueType token() { ValueType v; v.is_token = true; return v; }
  std::string str() const;  // "f32[?,784]" or "token"
  bool operator==(const ValueType& o) const {
    return is_token == o.is_token && (is_token || tensor == o.tensor);
  }
};

struct Use {
  Node* user;
  int operand_index;
};

class Value {
 public:
  const ValueType& type() const { return type_; }
  void set_type(const ValueType& t) { type_ = t; }
  // The node that defines this value, or nullptr for a graph parameter.
  Node* producer() const { return producer_; }
  // The graph whose scope defines the value (for a parameter, its graph).
  Graph* owner() const { return owner_; }
  int index() const { return index_; }  // result or parameter position
  const std::vector<Use>& uses() const { return uses_; }
  bool unused() const { return uses_.empty() && !returned_; }
  // The nodes whose regions return this value although it was defined
  // outside them (a region may yield a value of an enclosing graph, e.g. a
  // cond branch after cse): they read it like uses, but uses() does not list
  // them. Each is the region's own node (callers lift it to their level).
  std::vector<Node*> region_yielders() const;
  void replace_all_uses_with(Value* v);
  // A name hint for printing (parameters keep theirs: %x).
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  // For a function parameter that stands for a variable's value at the call:
  // the variable's name (NOTE [Variables in the IR]); "" otherwise.
  const std::string& variable() const { return variable_; }
  void set_variable(std::string v) { variable_ = std::move(v); }

 private:
  friend class Node;
  friend class Graph;
  ValueType type_;
  Node* producer_ = nullptr;
  Graph* owner_ = nullptr;
  int index_ = 0;
  std::vector<Use> uses_;
  int returned_ = 0;  // how many graph results refer to it
  std::string name_;
  std::string variable_;
};

class Node {
 public:
  ~Node();
  const OpDef& op() const { return *op_; }
  const std::string& name() const { return op_->name(); }
  int num_operands() const { return static_cast<int>(operands_.size()); }
  Value* operand(int i) const { return operands_[i]; }
  const std::vector<Value*>& operands() const { return operands_; }
  void set_operand(int i, Value* v);
  int num_results() const { return static_cast<int>(results_.size()); }
  Value* result(int i = 0) const { return results_[i].get(); }
  const Attrs& attrs() const { return attrs_; }
  Attrs& mutable_attrs() { return attrs_; }
  SrcLoc loc() const { return loc_; }
  void set_loc(SrcLoc l) { loc_ = l; }
  int num_regions() const { return static_cast<int>(regions_.size()); }
  Graph* region(int i) const { return regions_[i].get(); }
  Graph* add_region();
  void add_operand(Value* v);
  // Appends a result (region ops learn their result types from their regions).
  Value* add_result(const ValueType& type);
  Graph* parent() const { return parent_; }
  bool is_side_effecting() const { return op_->has(kSideEffecting); }
  // Pure, no side effects anywhere inside its regions.
  bool is_removable() const;
  bool unused() const;
  // Removes the node from its graph and destroys it. Its results must be unused.
  void erase();
  // Removes this node from its operands' use lists (before destruction).
  void drop_operands();

 private:
  friend class Graph;
  Node() = default;
  static void remove_use(Value* v, Node* user, int index);
  const OpDef* op_ = nullptr;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  Attrs attrs_;
  SrcLoc loc_;
  std::vector<std::unique_ptr<Graph>> regions_;
  Graph* parent_ = nullptr;
  std::list<std::unique_ptr<Node>>::iterator self_;
};

class Graph {
 public:
  explicit Graph(std::string name = "");
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  // The node whose region this graph is, or nullptr for a function.
  Node* parent_node() const { return parent_node_; }

  Value* add_param(const ValueType& type, std::string name = "");
  int num_params() const { return static_cast<int>(params_.size()); }
  Value* param(int i) const { return params_[i].get(); }

  // Appends a node with inferred result types (runs the op's infer; throws
  // its user error on bad operands).
  Node* append(const OpDef& op, const std::vector<Value*>& operands, const Attrs& attrs = {}, SrcLoc loc = {});
  // Appends (or inserts before `before`) a node with the given result types,
  // unchecked: the verifier checks them.
  Node* create(const OpDef& op, const std::vector<Value*>& operands, const std::vector<ValueType>& result_types,
               const Attrs& attrs = {}, SrcLoc loc = {}, Node* before = nullptr);

  // Nodes in order. Iteration is stable under erasing the current node if
  // the caller advances first (use nodes_snapshot() to mutate freely).
  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<Node*> nodes_snapshot() const;
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  // Nodes in this graph and, recursively, in every region.
  int64_t total_nodes() const;

  // Results: `return` of a function, `yield` of a region.
  const std::vector<Value*>& results() const { return results_; }
  void set_results(const std::vector<Value*>& values);
  void set_result(int i, Value* v);
  // A function result that is a variable's final value, written back when
  // the call ends, names the variable here; "" for ordinary results.
  const std::string& result_variable(int i) const { return result_variables_[i]; }
  void set_result_variable(int i, std::string name) { result_variables_[i] = std::move(name); }

  // Whether `v` is visible here: defined in this graph or an enclosing one.
  bool encloses(const Graph* inner) const;

  // Function attributes, free-form (the memory plan's summary): printed as
  // `attributes {...}` after the result types.
  const Attrs& attrs() const { return attrs_; }
  Attrs& mutable_attrs() { return attrs_; }

 private:
  friend class Node;
  std::string name_;
  Node* parent_node_ = nullptr;
  std::vector<std::unique_ptr<Value>> params_;
  std::list<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> results_;
  std::vector<std::string> result_variables_;
  Attrs attrs_;
};

// Result types of `op` on operands of these types, by the op's infer.
SmallVec<TensorType, 2> infer_types(const OpDef& op, const std::vector<const TensorType*>& operands, const Attrs& attrs,
                                    SrcLoc loc);

// NOTE [Variables in the IR]
// Variables are functionalized (DESIGN.md §2.3): a variable the function
// reads or assigns is a parameter marked with the variable's name (its value
// when the call starts); a read is that SSA value; an assign is just the next
// SSA value; and the final value is a function result marked with the same
// name, written back when the call ends. In text:
//   func @step(%x: f32[4], %w: f32[4] {var="w"}) -> (f32[], f32[4] {var="w"})
// So passes need no special cases for state: cse and dce see plain values.

// Interns a file name so a SrcLoc built from parsed text outlives the text.
const char* intern_file_name(const std::string& file);

}  // namespace duet
