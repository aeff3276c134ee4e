// The one way a front door chooses an implementation. Each op keeps, per pass, an ordered list of Impl entries
// (fastest first, the naive reference last, which takes anything); select_impl() runs the first entry that
// accepts the problem. An entry that declines says why (its `needs`), and FASTLAYERS_VERBOSE logs every
// decision through log_line() (the Python module routes it to the `logging` logger "fastlayers").
// One override for users and tests: FASTLAYERS_IMPL=op:name[,op:name...] or set_impl(op, name) (_C.set_impl);
// a per-call `impl` argument (the bindings' impl=) forces a name for that call only.
#pragma once
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <tuple>
#include <type_traits>
#include <string>
#include <vector>

#include "fastlayers/error.h"

namespace fl {

// An entry of a single-pass list. Multi-pass lists (conv2d's) use their own struct with the same first two
// fields, `needs` last, and one function pointer per pass (nullptr: the entry does not do that pass).
template <typename Params, typename Fn>
struct Impl {
  const char* name;
  bool (*accepts)(const Params&);  // nullptr: takes every problem
  Fn run;
  const char* needs = nullptr;  // what accepts() asks for, said when the entry declines
};

// ---- the override and the log (ops/impls.cpp) ----
// Names every list of `op` registers (union over its passes, in list order); see ImplRegistration.
void register_impl_names(const char* op, const std::vector<const char*>& names);
// The ops with registered lists, sorted; the names of one op (ValueError naming the known ops if unknown).
std::vector<std::string> impl_ops();
std::vector<std::string> impl_names(const std::string& op);
// Forces implementation `name` of `op` for every later call ("" restores the automatic choice); ValueError for
// an unknown op or name. Overrides FASTLAYERS_IMPL's entry for that op.
void set_impl(const std::string& op, const std::string& name);
// The forced name of `op` ("" when none): set_impl's, else FASTLAYERS_IMPL's.
std::string forced_impl(const char* op);
// FASTLAYERS_VERBOSE (read once) or set_verbose.
bool verbose();
void set_verbose(bool on);
// Where log_line writes: stderr until a sink is installed (the Python module installs one into `logging`).
void set_log_sink(std::function<void(const std::string&)> sink);
void log_line(const std::string& line);

// Registers the names of a list at static-initialization time: `const ImplRegistration kReg("conv2d", kImpls);`
struct ImplRegistration {
  template <typename Entry, size_t K>
  ImplRegistration(const char* op, const Entry (&list)[K]) {
    std::vector<const char*> names;
    for (const Entry& e : list) names.push_back(e.name);
    register_impl_names(op, names);
  }
};

namespace impl_detail {
std::string names_of(const std::vector<const char*>& names);
[[noreturn]] void unknown_name(const char* op, const char* forced, const std::vector<const char*>& names);
[[noreturn]] void forced_declines(const char* op, const char* name, const char* needs, const std::string& desc);
void log_choice(const char* op, const char* pass, const std::string& desc, const std::string& declined,
                const char* chosen, const char* how);
}  // namespace impl_detail

// The entry of `list` that runs pass `fn` (a member pointer: &Impl::run, &Conv2dImpl::forward, ...) of `op` on
// problem p (Params has str()). `impl`: a per-call forced name (nullptr/"": none), else set_impl /
// FASTLAYERS_IMPL. A forced name that declines p is a ValueError saying what it needs; a per-call name the list
// lacks is a ValueError listing the names; an override naming an entry this pass lacks leaves the automatic
// choice (e.g. linear:dot for the backward passes).
template <typename Entry, size_t K, typename Fn, typename Params>
const Entry& select_impl(const Entry (&list)[K], Fn Entry::*fn, const char* op, const char* pass, const Params& p,
                         const char* impl = nullptr) {
  const bool per_call = impl && *impl;
  std::string global;
  if (!per_call) global = forced_impl(op);
  const char* forced = per_call ? impl : (global.empty() ? nullptr : global.c_str());
  if (forced) {
    for (const Entry& e : list) {
      if (!(e.*fn) || std::string(e.name) != forced) continue;
      if (e.accepts && !e.accepts(p)) impl_detail::forced_declines(op, e.name, e.needs, p.str());
      if (verbose()) impl_detail::log_choice(op, pass, p.str(), "", e.name, per_call ? "forced by impl=" : "forced");
      return e;
    }
    if (per_call) {
      std::vector<const char*> names;
      for (const Entry& e : list)
        if (e.*fn) names.push_back(e.name);
      impl_detail::unknown_name(op, forced, names);
    }
  }
  std::string declined;
  for (const Entry& e : list) {
    if (!(e.*fn)) continue;
    if (!e.accepts || e.accepts(p)) {
      if (verbose()) impl_detail::log_choice(op, pass, p.str(), declined, e.name, nullptr);
      return e;
    }
    if (verbose())
      declined += cat_str(declined.empty() ? "" : "; ", e.name, " declined: needs ", e.needs ? e.needs : "?");
  }
  return list[K - 1];  // not reached: the reference takes anything
}

namespace impl_detail {
template <typename F> struct params_of_fn;
template <typename R, typename... A> struct params_of_fn<R (*)(A...)> {
  using type = std::decay_t<std::tuple_element_t<sizeof...(A) - 1, std::tuple<A...>>>;
};
// The params type of a kernel: its last argument's.
template <typename F> using params_of = typename params_of_fn<F>::type;
}  // namespace impl_detail

template <typename Params, auto Fast, auto Reference>
inline const Impl<Params, decltype(Fast)> kFastThenReference[] = {{"fast", nullptr, Fast},
                                                                   {"reference", nullptr, Reference}};
struct FastThenReferenceOps {
  FastThenReferenceOps(std::initializer_list<const char*> ops) {
    for (const char* op : ops) register_impl_names(op, {"fast", "reference"});
  }
};

// select_impl for a single-pass list (entries of Impl).
template <typename Params, typename Fn, size_t K>
const Impl<Params, Fn>& pick_impl(const Impl<Params, Fn> (&list)[K], const char* op, const char* pass,
                                  const Params& p, const char* impl = nullptr) {
  return select_impl(list, &Impl<Params, Fn>::run, op, pass, p, impl);
}

}  // namespace fl

// The list of a pass that has one fast CPU kernel and the naive reference, both named `kernel` (in fl::cpu and
// fl::ref): FL_FAST_THEN_REFERENCE(batch_norm_forward). Register the names of such ops with
// `const FastThenReferenceOps kRegistered{"batch_norm", "group_norm"};`. For use inside namespace fl.
#define FL_FAST_THEN_REFERENCE(kernel) \
  ::fl::kFastThenReference<::fl::impl_detail::params_of<decltype(&cpu::kernel)>, cpu::kernel, ref::kernel>
