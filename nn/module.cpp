// Module: the tree of named parameters, buffers and children; state_dict I/O; train/eval;
// device moves; the summary table and its forward trace.
#include "nn/module.hpp"

#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>

#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

namespace {

// The trace that Module::trace is recording, or null when none is running.
std::vector<Module::TraceEntry>* g_trace = nullptr;

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// True when `inner` names a module nested inside the module named `outer`.
bool is_inside(const std::string& inner, const std::string& outer) {
  if (outer.empty()) return true;
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '.';
}

// `name` as summary() shows it inside the module named `root`: relative to it; "(model)" for it.
std::string relative_name(const std::string& name, const std::string& root) {
  if (name == root) return "(model)";
  if (root.empty() || !is_inside(name, root)) return name;
  return name.substr(root.size() + 1);
}

// dst (any layout) = src (same shape, any device), in place and without a graph node, so
// every handle to dst (an optimizer's parameter list) sees the new values.
void copy_values(const Tensor& dst, const Tensor& src) {
  Tensor s = src.detach().to(dst.device()).contiguous();
  TD_DISPATCH(dst.device(), copy_into_strided, s.data(), dst.data(), dst.strides(), dst.shape());
}

// "'a', 'b', 'c' and 4 more": key lists in error messages stay readable.
std::string quoted_list(const std::vector<std::string>& keys) {
  const size_t shown = 8;
  std::ostringstream out;
  for (size_t i = 0; i < keys.size() && i < shown; ++i) out << (i ? ", '" : "'") << keys[i] << "'";
  if (keys.size() > shown) out << " and " << keys.size() - shown << " more";
  return out.str();
}

}  // namespace

// ---- forward and its trace ----

Tensor Module::forward(const Tensor& x) {
  throw_error(label(), ": this module has no single-input forward "
              "(hint: call its own forward method with all of its inputs)");
}

// Entries are kept in call order (a module before the modules it calls): this module's
// entry goes where the trace stood when its forward began.
Tensor Module::operator()(const Tensor& x) {
  if (!g_trace) return forward(x);
  size_t start = g_trace->size();
  Tensor out = forward(x);
  g_trace->insert(g_trace->begin() + start, TraceEntry{name_, type_name(), x.shape(), out.shape()});
  return out;
}

// Called at the end of a multi-input forward, so the entries of the children it called are
// already recorded: this module's entry goes before them.
void Module::trace_call(const Tensor& input, const Tensor& output) const {
  if (!g_trace) return;
  auto pos = g_trace->end();
  while (pos != g_trace->begin() && is_inside(std::prev(pos)->name, name_)) --pos;
  g_trace->insert(pos, TraceEntry{name_, type_name(), input.shape(), output.shape()});
}

std::vector<Module::TraceEntry> Module::trace(const std::function<void()>& fn) {
  struct Recording {
    std::vector<TraceEntry>* previous = g_trace;
    std::vector<TraceEntry> entries;
    Recording() { g_trace = &entries; }
    ~Recording() { g_trace = previous; }
  } recording;
  fn();
  return std::move(recording.entries);
}

// ---- registration ----

void Module::check_new_name(const std::string& name) const {
  TD_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": invalid name '",
           name, "' (it must be non-empty and contain no '.')");
  bool taken = false;
  for (const auto& p : params_) taken |= p.first == name;
  for (const auto& b : buffers_) taken |= b.first == name;
  for (const auto& c : children_) taken |= c.first == name;
  TD_CHECK(!taken, type_name(), ": the name '", name, "' is registered twice");
}

void Module::register_parameter(const std::string& name, Tensor* member, Tensor value) {
  check_new_name(name);
  TD_CHECK(value.defined(), type_name(), ": cannot register '", name, "' with an undefined tensor");
  bool keep = value.is_leaf() && value.is_contiguous();  // keeps a tied weight's handle
  *member = keep ? value : value.detach().contiguous();
  member->requires_grad_(true);
  params_.emplace_back(name, member);
}

void Module::register_buffer(const std::string& name, Tensor* member, Tensor value) {
  check_new_name(name);
  TD_CHECK(value.defined(), type_name(), ": cannot register '", name, "' with an undefined tensor");
  *member = value.detach().contiguous();
  buffers_.emplace_back(name, member);
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name);
  TD_CHECK(child != nullptr, type_name(), ": cannot register a null module as '", name, "'");
  child->set_name(join(name_, name));
  children_.emplace_back(name, std::move(child));
}

void Module::set_name(const std::string& qualified) {
  name_ = qualified;
  for (auto& [child_name, child] : children_) child->set_name(join(name_, child_name));
}

void Module::visit_tensors(const std::string& prefix,
                           const std::function<void(const std::string&, Tensor*, bool)>& fn) const {
  for (const auto& [name, member] : params_) fn(join(prefix, name), member, false);
  for (const auto& [name, member] : buffers_) fn(join(prefix, name), member, true);
  for (const auto& [name, child] : children_) child->visit_tensors(join(prefix, name), fn);
}

// ---- the parameter tree ----

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit_tensors("", [&](const std::string& name, Tensor* t, bool buffer) {
    if (!buffer) out.emplace_back(name, *t);
  });
  return out;
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit_tensors("", [&](const std::string& name, Tensor* t, bool buffer) {
    if (buffer) out.emplace_back(name, *t);
  });
  return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  visit_tensors("", [&](const std::string& name, Tensor* t, bool) { out[name] = t->detach(); });
  return out;
}

// Checks every key and shape first, then copies: a failed load changes nothing.
void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::vector<std::pair<std::string, Tensor*>> targets;
  std::vector<std::string> missing, unexpected;
  std::set<std::string> known;
  visit_tensors("", [&](const std::string& name, Tensor* member, bool) {
    known.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
      return;
    }
    // As PyTorch, a 0-d tensor also loads from a 1-element 1-d one (NumPy-written scalars).
    bool scalar = member->dim() == 0 && it->second.shape() == Shape{1};
    TD_CHECK(scalar || it->second.shape() == member->shape(),
             "load_state_dict: shape mismatch for '", name, "': the state dict has ",
             str(it->second.shape()), " but the model has ", str(member->shape()));
    targets.emplace_back(name, member);
  });
  for (const auto& entry : state)
    if (!known.count(entry.first)) unexpected.push_back(entry.first);
  if (strict && !(missing.empty() && unexpected.empty())) {
    std::string m = missing.empty() ? "" : "missing key(s) " + quoted_list(missing) +
                                               " (in the model, not in the state dict)";
    std::string u = unexpected.empty() ? "" : "unexpected key(s) " + quoted_list(unexpected) +
                                                  " (in the state dict, not in the model)";
    throw_error("load_state_dict: ", m, m.empty() || u.empty() ? "" : "; ", u,
                " (hint: pass strict = false to load the matching keys only)");
  }
  NoGradGuard no_grad;
  for (auto& [name, member] : targets)
    copy_values(*member, state.at(name).reshape(member->shape()));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
}

// Moves each tensor's storage, keeping its handle: optimizers holding it stay valid.
void Module::to(Device device) {
  require_device(device, "Module::to");
  NoGradGuard no_grad;
  visit_tensors("", [&](const std::string&, Tensor* t, bool) {
    if (t->device() == device) return;
    Tensor moved = t->detach().to(device).contiguous();
    TensorImpl& impl = t->impl();
    impl.storage = moved.impl().storage;
    impl.strides = moved.strides();
    impl.offset = moved.offset();
    if (impl.grad) impl.grad = Tensor(impl.grad).detach().to(device).contiguous().impl_ptr();
  });
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

void zero_parameters(Module& m) {
  NoGradGuard no_grad;
  for (auto& [name, p] : m.named_parameters()) copy_values(p, zeros_like(p));
}

// ---- summary ----

std::string Module::summary(const Tensor& example_input) {
  if (!example_input.defined()) return summary(std::function<void()>());
  return summary([&] { (*this)(example_input); });
}

namespace {
// For a scope: eval mode and no graph; restores the training flags and the default generator.
struct SideEffectFree {
  std::vector<std::pair<Module*, bool>> modes;
  RngState rng = default_generator().state();
  NoGradGuard no_grad;
  explicit SideEffectFree(Module& root) {
    save(root);
    root.eval();
  }
  ~SideEffectFree() {
    for (auto& [m, on] : modes) m->train(on);
    default_generator().set_state(rng);
  }
  void save(Module& m) {
    modes.emplace_back(&m, m.is_training());
    for (auto& c : m.named_children()) save(*c.second);
  }
};
}  // namespace

// One row per state_dict entry in PyTorch's order, then the total, then the trace. The trace
// runs without side effects: no graph, eval mode (no dropout draws, no BatchNorm statistics
// updates), and the default generator and the training flags are restored afterwards.
std::string Module::summary(const std::function<void()>& run_forward) {
  struct Row {
    std::string name, shape, count;
  };
  std::vector<Row> rows;
  int64_t total = 0;
  visit_tensors("", [&](const std::string& name, Tensor* t, bool buffer) {
    std::string count = std::to_string(t->numel()) + (buffer ? " (buffer)" : "");
    rows.push_back({name, str(t->shape()), count});
    if (!buffer) total += t->numel();
  });
  size_t w0 = 0, w1 = 0;
  for (const Row& r : rows) w0 = std::max(w0, r.name.size()), w1 = std::max(w1, r.shape.size());
  std::ostringstream out;
  for (const Row& r : rows)
    out << std::left << std::setw(int(w0) + 2) << r.name << std::setw(int(w1) + 2) << r.shape
        << r.count << "\n";
  out << "total " << total << " parameters\n";
  if (!run_forward) return out.str();

  std::vector<TraceEntry> entries;
  {
    SideEffectFree guard(*this);
    entries = trace(run_forward);
  }
  std::vector<std::string> names;
  size_t name_width = 0, type_width = 0;
  for (const TraceEntry& e : entries) {
    names.push_back(relative_name(e.name, name_));
    name_width = std::max(name_width, names.back().size());
    type_width = std::max(type_width, e.type.size());
  }
  out << "forward trace (module, type, input shape -> output shape)\n";
  for (size_t i = 0; i < entries.size(); ++i)
    out << "  " << std::left << std::setw(int(name_width) + 2) << names[i]
        << std::setw(int(type_width) + 2) << entries[i].type << str(entries[i].input) << " -> "
        << str(entries[i].output) << "\n";
  return out.str();
}

}  // namespace tinydiff
