// The IR parser: a hand-written lexer and recursive descent over the text
// the printer writes. Types are checked by the verifier, not here; the parser
// only needs names to resolve and the text to be well formed.
#include <duet/graph/parser.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include <fmt/format.h>

namespace duet {
namespace {

// The bytes all dense values of one text may take together (parser.h); one
// tensor type may take kMaxTensorBytes (NOTE [Result sizes]).
constexpr int64_t kMaxDenseBytes = int64_t(1) << 30;

enum class Tok { ident, value, global, integer, real, string, punct, arrow, end };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // ident/value/global name without sigil; punct char; literal text
  size_t offset = 0;
};

class Parser {
 public:
  Parser(std::string_view text, std::string source) : text_(text), source_(std::move(source)) { advance(); }

  std::vector<std::unique_ptr<Graph>> module() {
    std::vector<std::unique_ptr<Graph>> out;
    while (tok_.kind != Tok::end) out.push_back(function());
    return out;
  }

 private:
  // ---- errors ----------------------------------------------------------------------
  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    size_t line_start = text_.rfind('\n', offset == 0 ? 0 : offset - 1);
    line_start = (line_start == std::string_view::npos || offset == 0) ? 0 : line_start + 1;
    if (offset > 0 && text_[offset - 1] == '\n') line_start = offset;
    size_t line_end = text_.find('\n', offset);
    if (line_end == std::string_view::npos) line_end = text_.size();
    int line = 1;
    for (size_t i = 0; i < line_start; ++i) line += text_[i] == '\n';
    size_t col = offset - line_start + 1;
    std::string src(text_.substr(line_start, line_end - line_start));
    throw ParseError(fmt::format("{}:{}:{}: error: {}\n{}\n{}^", source_, line, col, what, src,
                                 std::string(col - 1, ' ')));
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(tok_.offset, what); }

  // ---- lexer -----------------------------------------------------------------------
  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

  void advance() {
    // Skip blanks and // comments.
    for (;;) {
      while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (pos_ + 1 < text_.size() && text_[pos_] == '/' && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
        continue;
      }
      break;
    }
    tok_ = Token{};
    tok_.offset = pos_;
    if (pos_ >= text_.size()) return;
    char c = text_[pos_];
    if (c == '%' || c == '@') {
      size_t start = ++pos_;
      while (pos_ < text_.size() && ident_char(text_[pos_])) ++pos_;
      if (pos_ == start) fail_at(tok_.offset, fmt::format("expected a name after '{}'", c));
      tok_.kind = c == '%' ? Tok::value : Tok::global;
      tok_.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    if (c == '"') {
      ++pos_;
      std::string s;
      for (;;) {
        if (pos_ >= text_.size() || text_[pos_] == '\n') fail_at(tok_.offset, "unterminated string");
        char d = text_[pos_++];
        if (d == '"') break;
        if (d == '\\') {
          if (pos_ >= text_.size()) fail_at(tok_.offset, "unterminated string");
          char e = text_[pos_++];
          s += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
          s += d;
        }
      }
      tok_.kind = Tok::string;
      tok_.text = s;
      return;
    }
    if (c == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '>') {
      pos_ += 2;
      tok_.kind = Tok::arrow;
      tok_.text = "->";
      return;
    }
    bool negative_number = c == '-' && pos_ + 1 < text_.size() &&
                           (std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) ||
                            text_.substr(pos_ + 1, 3) == "inf");
    if (std::isdigit(static_cast<unsigned char>(c)) || negative_number) {
      size_t start = pos_++;
      bool real = false;
      if (text_.substr(start, 4) == "-inf") {
        pos_ = start + 4;
        real = true;
      } else {
        while (pos_ < text_.size()) {
          char d = text_[pos_];
          if (std::isdigit(static_cast<unsigned char>(d))) { ++pos_; continue; }
          if (d == '.' || d == 'e' || d == 'E') { real = true; ++pos_; continue; }
          if ((d == '-' || d == '+') && (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E')) { ++pos_; continue; }
          break;
        }
      }
      tok_.kind = real ? Tok::real : Tok::integer;
      tok_.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    if (ident_char(c)) {
      size_t start = pos_;
      while (pos_ < text_.size() && ident_char(text_[pos_])) ++pos_;
      tok_.kind = Tok::ident;
      tok_.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    if (std::strchr("(){}[],:=^?<>", c)) {
      ++pos_;
      tok_.kind = Tok::punct;
      tok_.text = std::string(1, c);
      return;
    }
    fail_at(pos_, fmt::format("unexpected character '{}'", c));
  }

  bool is_punct(char c) const { return tok_.kind == Tok::punct && tok_.text[0] == c; }
  bool is_ident(const char* s) const { return tok_.kind == Tok::ident && tok_.text == s; }
  void expect_punct(char c) {
    if (!is_punct(c)) fail(fmt::format("expected '{}', found {}", c, describe()));
    advance();
  }
  void expect_ident(const char* s) {
    if (!is_ident(s)) fail(fmt::format("expected '{}', found {}", s, describe()));
    advance();
  }
  std::string describe() const {
    switch (tok_.kind) {
      case Tok::end: return "the end of the input";
      case Tok::value: return "'%" + tok_.text + "'";
      case Tok::global: return "'@" + tok_.text + "'";
      case Tok::string: return "a string";
      default: return "'" + tok_.text + "'";
    }
  }

  int64_t parse_int() {
    if (tok_.kind != Tok::integer) fail("expected an integer, found " + describe());
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(tok_.text.c_str(), &end, 10);
    if (errno == ERANGE) fail("integer out of range: " + tok_.text);
    advance();
    return v;
  }

  // ---- types -------------------------------------------------------------------------
  ValueType parse_type() {
    if (is_ident("token")) {
      advance();
      return ValueType::token();
    }
    if (tok_.kind != Tok::ident) fail("expected a type, found " + describe());
    const size_t type_at = tok_.offset;
    DType dt;
    if (!parse_dtype(tok_.text, &dt)) fail(fmt::format("unknown dtype '{}' (b8, i32, i64, f32, f64)", tok_.text));
    advance();
    expect_punct('[');
    Shape shape;
    if (!is_punct(']')) {
      for (;;) {
        if (is_punct('?')) {
          advance();
          shape.push_back(-1);
        } else {
          size_t at = tok_.offset;
          int64_t d = parse_int();
          if (d < 0) fail_at(at, fmt::format("dim {} is negative (dynamic dims are '?')", d));
          if (shape.rank() == Shape::kMaxRank) fail_at(at, fmt::format("rank exceeds {}", Shape::kMaxRank));
          shape.push_back(d);
        }
        if (is_punct(',')) { advance(); continue; }
        break;
      }
    }
    expect_punct(']');
    // Sizes are computed from types in int64 (numel, memory-plan's bytes and
    // their sums); capped here, far beyond any machine, none of them overflows.
    int64_t bound = static_cast<int64_t>(dtype_size(dt));
    for (int64_t d : shape)
      if (d > 1 && (__builtin_mul_overflow(bound, d, &bound) || bound > kMaxTensorBytes))
        fail_at(type_at, fmt::format("type {} is too large (a tensor type may take {} bytes)", TensorType{dt, shape}.str(),
                                     kMaxTensorBytes));
    return TensorType{dt, shape};
  }

  std::vector<ValueType> parse_type_list() {
    std::vector<ValueType> out;
    if (is_punct('(')) {
      advance();
      if (!is_punct(')')) {
        for (;;) {
          out.push_back(parse_type());
          if (is_punct(',')) { advance(); continue; }
          break;
        }
      }
      expect_punct(')');
      return out;
    }
    out.push_back(parse_type());
    return out;
  }

  // ---- values and scopes -------------------------------------------------------------
  Value* lookup(const std::string& name, size_t at) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    fail_at(at, fmt::format("use of undefined value '%{}'", name));
  }
  void define(const std::string& name, Value* v, size_t at) {
    for (const auto& scope : scopes_)
      if (scope.count(name)) fail_at(at, fmt::format("value '%{}' is defined twice", name));
    scopes_.back()[name] = v;
  }
  std::vector<Value*> parse_value_list() {  // %a, %b ... (possibly empty)
    std::vector<Value*> out;
    while (tok_.kind == Tok::value) {
      out.push_back(lookup(tok_.text, tok_.offset));
      advance();
      if (!is_punct(',')) break;
      advance();
      if (tok_.kind != Tok::value) fail("expected a value after ',', found " + describe());
    }
    return out;
  }

  void parse_params(Graph& g) {  // (%a: t, %b: t)
    expect_punct('(');
    if (!is_punct(')')) {
      for (;;) {
        if (tok_.kind != Tok::value) fail("expected a parameter like '%x: f32[4]', found " + describe());
        std::string name = tok_.text;
        size_t at = tok_.offset;
        advance();
        expect_punct(':');
        Value* v = g.add_param(parse_type(), name);
        if (is_punct('{')) {
          if (g.parent_node()) fail("only function parameters can be variables");
          v->set_variable(parse_var_marker());
        }
        define(name, v, at);
        if (is_punct(',')) { advance(); continue; }
        break;
      }
    }
    expect_punct(')');
  }

  // {var="name"} after a function parameter's or result's type.
  std::string parse_var_marker() {
    expect_punct('{');
    expect_ident("var");
    expect_punct('=');
    if (tok_.kind != Tok::string) fail("expected the variable's name as a string, found " + describe());
    std::string name = tok_.text;
    if (name.empty()) fail("a variable's name cannot be empty");
    advance();
    expect_punct('}');
    return name;
  }

  // ---- attributes ----------------------------------------------------------------------
  struct PendingDense {
    std::string attr;
    std::vector<Token> elements;
    size_t offset;
  };

  AttrValue parse_attr_value(const AttrSpec* spec, const std::string& name, std::vector<PendingDense>& dense) {
    size_t at = tok_.offset;
    auto want = [&](AttrKind k, const char* what) {
      if (spec && spec->kind != k) fail_at(at, fmt::format("attribute '{}' does not take {}", name, what));
    };
    if (is_ident("true") || is_ident("false")) {
      want(AttrKind::boolean, "a bool");
      bool b = tok_.text == "true";
      advance();
      return b;
    }
    if (is_ident("dense")) {
      want(AttrKind::dense, "a dense value");
      advance();
      expect_punct('<');
      PendingDense p{name, {}, at};
      while (!is_punct('>')) {
        if (tok_.kind == Tok::end) fail("unterminated dense<...>");
        if (!is_punct(',')) p.elements.push_back(tok_);
        advance();
      }
      advance();
      dense.push_back(std::move(p));
      return Dense{};
    }
    if (tok_.kind == Tok::integer) {
      int64_t v = parse_int();
      if (spec && spec->kind == AttrKind::real) return static_cast<double>(v);
      want(AttrKind::integer, "an integer");
      return v;
    }
    if (tok_.kind == Tok::real || is_ident("inf") || is_ident("nan")) {
      want(AttrKind::real, "a real");
      double v = std::strtod(tok_.text.c_str(), nullptr);
      advance();
      return v;
    }
    if (tok_.kind == Tok::string) {
      want(AttrKind::string, "a string");
      std::string s = tok_.text;
      advance();
      return s;
    }
    if (is_punct('[')) {
      want(AttrKind::ints, "a list");
      advance();
      std::vector<int64_t> v;
      if (!is_punct(']')) {
        for (;;) {
          v.push_back(parse_int());
          if (is_punct(',')) { advance(); continue; }
          break;
        }
      }
      expect_punct(']');
      return v;
    }
    if (tok_.kind == Tok::ident) {
      DType dt;
      if (parse_dtype(tok_.text, &dt)) {
        want(AttrKind::dtype, "a dtype");
        advance();
        return dt;
      }
    }
    fail("expected an attribute value, found " + describe());
  }

  Attrs parse_attrs(const OpDef& op, std::vector<PendingDense>& dense) {
    Attrs attrs;
    expect_punct('{');
    for (;;) {
      if (tok_.kind != Tok::ident) fail("expected an attribute name, found " + describe());
      std::string name = tok_.text;
      size_t at = tok_.offset;
      const AttrSpec* spec = nullptr;
      for (const AttrSpec& s : op.attr_specs())
        if (s.name == name) spec = &s;
      // Names with a "plan." prefix are discardable annotations a pass adds
      // (memory-plan), allowed on any op.
      if (!spec && name.rfind("plan.", 0) != 0) {
        std::string known;
        for (const AttrSpec& s : op.attr_specs()) known += (known.empty() ? "" : ", ") + s.name;
        fail_at(at, fmt::format("op '{}' has no attribute '{}' (it has: {})", op.name(), name,
                                known.empty() ? "none" : known));
      }
      if (attrs.has(name)) fail_at(at, fmt::format("attribute '{}' is given twice", name));
      advance();
      expect_punct('=');
      attrs.set(name, parse_attr_value(spec, name, dense));
      if (is_punct(',')) { advance(); continue; }
      break;
    }
    expect_punct('}');
    return attrs;
  }

  Dense decode_dense(const PendingDense& p, const ValueType& type) {
    if (type.is_token || !type.tensor.shape.is_static())
      fail_at(p.offset, "a dense value needs a static tensor result type");
    auto data = std::make_shared<DenseData>();
    data->dtype = type.tensor.dtype;
    data->shape = type.tensor.shape;
    // A splat expands to every element of its type, so a few characters can
    // ask for any amount of memory: the bytes are counted (without overflow)
    // against kMaxDenseBytes before anything is allocated.
    int64_t n = 1;
    for (int i = 0; i < data->shape.rank(); ++i)
      if (__builtin_mul_overflow(n, data->shape.dim(i), &n)) n = std::numeric_limits<int64_t>::max();
    const int64_t bytes = n > kMaxDenseBytes ? kMaxDenseBytes + 1 : n * static_cast<int64_t>(dtype_size(data->dtype));
    if (bytes > kMaxDenseBytes - dense_bytes_)
      fail_at(p.offset, fmt::format("dense value of type {} is too large: the dense values of one text may take {} "
                                    "bytes together",
                                    type.str(), kMaxDenseBytes));
    dense_bytes_ += bytes;
    const bool splat = p.elements.size() == 1 && n > 1;  // dense<x>: every element x
    if (static_cast<int64_t>(p.elements.size()) != n && !splat)
      fail_at(p.offset, fmt::format("dense value has {} elements, its type {} needs {} (or 1, a splat)", p.elements.size(),
                                    type.str(), n));
    data->bytes.resize(static_cast<size_t>(n) * dtype_size(data->dtype));
    for (int64_t i = 0; i < (splat ? 1 : n); ++i) {  // a splat's element is read once, then copied
      const Token& t = p.elements[static_cast<size_t>(i)];
      uint8_t* dst = data->bytes.data() + i * dtype_size(data->dtype);
      auto bad = [&] { fail_at(t.offset, fmt::format("'{}' is not a {} element", t.text, dtype_name(data->dtype))); };
      switch (data->dtype) {
        case DType::b8: {
          if (t.text != "true" && t.text != "false") bad();
          *dst = t.text == "true";
          break;
        }
        case DType::i32: case DType::i64: {
          if (t.kind != Tok::integer) bad();
          int64_t v = std::strtoll(t.text.c_str(), nullptr, 10);
          if (data->dtype == DType::i32) { int32_t w = static_cast<int32_t>(v); std::memcpy(dst, &w, 4); }
          else std::memcpy(dst, &v, 8);
          break;
        }
        case DType::f32: case DType::f64: {
          bool ok = t.kind == Tok::real || t.kind == Tok::integer || t.text == "inf" || t.text == "nan";
          if (!ok) bad();
          if (data->dtype == DType::f32) { float f = std::strtof(t.text.c_str(), nullptr); std::memcpy(dst, &f, 4); }
          else { double d = std::strtod(t.text.c_str(), nullptr); std::memcpy(dst, &d, 8); }
          break;
        }
      }
    }
    if (splat)
      for (size_t done = dtype_size(data->dtype); done < data->bytes.size(); done *= 2)
        std::memcpy(data->bytes.data() + done, data->bytes.data(), std::min(done, data->bytes.size() - done));
    return Dense{data};
  }

  // ---- nodes, regions, functions -----------------------------------------------------------
  // Parses one region's body up to and including `terminator` and its values.
  void parse_body(Graph& g, const char* terminator) {
    for (;;) {
      if (is_ident(terminator)) {
        advance();
        g.set_results(parse_value_list());
        return;
      }
      if (tok_.kind == Tok::end || is_punct('}'))
        fail(fmt::format("expected '{}' before {}", terminator, describe()));
      parse_node(g);
    }
  }

  void parse_node(Graph& g) {
    std::vector<std::pair<std::string, size_t>> names;
    while (tok_.kind == Tok::value) {
      names.emplace_back(tok_.text, tok_.offset);
      advance();
      if (is_punct(',')) { advance(); continue; }
      expect_punct('=');
      break;
    }
    if (tok_.kind != Tok::ident) fail("expected an op name, found " + describe());
    size_t op_at = tok_.offset;
    const OpDef* op = OpRegistry::get().find(tok_.text);
    if (!op)
      fail(fmt::format("unknown op '{}' (did you mean '{}'?)", tok_.text, OpRegistry::get().closest(tok_.text)));
    advance();
    expect_punct('(');
    std::vector<Value*> operands = parse_value_list();
    expect_punct(')');
    std::vector<PendingDense> dense;
    Attrs attrs;
    if (is_punct('{')) attrs = parse_attrs(*op, dense);  // a '{' after the types opens a region instead
    std::vector<ValueType> types;
    if (is_punct(':')) {
      advance();
      types = parse_type_list();
    }
    if (types.size() != names.size())
      fail_at(op_at, fmt::format("{} results are named but {} types are given", names.size(), types.size()));
    for (const PendingDense& p : dense) {
      if (types.size() != 1) fail_at(p.offset, "a dense value needs exactly one result type");
      attrs.set(p.attr, decode_dense(p, types[0]));
    }
    Node* n = g.create(*op, operands, types, attrs, {});
    while (is_punct('{')) {
      advance();
      Graph* region = n->add_region();
      scopes_.emplace_back();
      if (is_punct('^')) {
        advance();
        parse_params(*region);
        expect_punct(':');
      }
      parse_body(*region, "yield");
      scopes_.pop_back();
      expect_punct('}');
    }
    if (is_ident("loc")) {
      advance();
      expect_punct('(');
      if (tok_.kind != Tok::string) fail("expected a file name string, found " + describe());
      std::string file = tok_.text;
      advance();
      expect_punct(':');
      int64_t line = parse_int();
      expect_punct(')');
      n->set_loc(SrcLoc(intern_file_name(file), static_cast<unsigned>(line)));
    }
    for (size_t i = 0; i < names.size(); ++i) define(names[i].first, n->result(static_cast<int>(i)), names[i].second);
  }

  std::unique_ptr<Graph> function() {
    expect_ident("func");
    if (tok_.kind != Tok::global) fail("expected a function name like '@f', found " + describe());
    auto g = std::make_unique<Graph>(tok_.text);
    advance();
    scopes_.clear();
    scopes_.emplace_back();
    parse_params(*g);
    if (tok_.kind != Tok::arrow) fail("expected '->' and the result types, found " + describe());
    advance();
    size_t types_at = tok_.offset;
    std::vector<ValueType> declared;
    std::vector<std::string> declared_vars;
    expect_punct('(');
    if (!is_punct(')')) {
      for (;;) {
        declared.push_back(parse_type());
        declared_vars.push_back(is_punct('{') ? parse_var_marker() : "");
        if (is_punct(',')) { advance(); continue; }
        break;
      }
    }
    expect_punct(')');
    if (is_ident("attributes")) {  // function attributes: free-form names
      advance();
      expect_punct('{');
      std::vector<PendingDense> dense;
      for (;;) {
        if (tok_.kind != Tok::ident) fail("expected an attribute name, found " + describe());
        std::string name = tok_.text;
        advance();
        expect_punct('=');
        g->mutable_attrs().set(name, parse_attr_value(nullptr, name, dense));
        if (!dense.empty()) fail("a function attribute cannot be a dense value");
        if (is_punct(',')) { advance(); continue; }
        break;
      }
      expect_punct('}');
    }
    expect_punct('{');
    parse_body(*g, "return");
    expect_punct('}');
    if (declared.size() != g->results().size())
      fail_at(types_at, fmt::format("the function declares {} results but returns {}", declared.size(),
                                    g->results().size()));
    for (size_t i = 0; i < declared.size(); ++i)
      if (!(declared[i] == g->results()[i]->type()))
        fail_at(types_at, fmt::format("result {} is declared {} but the returned value is {}", i, declared[i].str(),
                                      g->results()[i]->type().str()));
    for (size_t i = 0; i < declared_vars.size(); ++i) g->set_result_variable(static_cast<int>(i), declared_vars[i]);
    return g;
  }

  std::string_view text_;
  std::string source_;
  size_t pos_ = 0;
  Token tok_;
  std::vector<std::map<std::string, Value*>> scopes_;
  int64_t dense_bytes_ = 0;  // taken by the dense values parsed so far (kMaxDenseBytes)
};

}  // namespace

std::vector<std::unique_ptr<Graph>> parse_module(std::string_view text, const std::string& source_name) {
  Parser p(text, source_name);
  return p.module();
}

std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& source_name) {
  auto module = parse_module(text, source_name);
  if (module.size() != 1)
    throw ParseError(fmt::format("{}: expected exactly one func, found {}", source_name, module.size()));
  return std::move(module[0]);
}

}  // namespace duet
