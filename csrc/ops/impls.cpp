// The registry of implementation names, the override (set_impl / FASTLAYERS_IMPL) and the verbose log.
#include "ops/impls.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace fl {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> names;  // op -> names in list order, no repeats
  std::map<std::string, std::string> forced;              // op -> name (set_impl)
  bool env_read = false;
  std::map<std::string, std::string> env;  // op -> name (FASTLAYERS_IMPL)
  std::function<void(const std::string&)> sink;
};

// Function-local: the front doors register from their own static initializers, in any order.
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: front doors may run during interpreter shutdown
  return *r;
}

// Set while any override exists, so that the common call (no override) skips the lock.
std::atomic<bool> g_any_forced{std::getenv("FASTLAYERS_IMPL") != nullptr};

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}
std::atomic<bool> g_verbose{env_on("FASTLAYERS_VERBOSE")};

// FASTLAYERS_IMPL=op:name[,op:name...], read on first use (after every static registration); malformed items
// are reported when their op runs (see forced_impl), not here, where nothing could catch them.
void read_env(Registry& r) {
  if (r.env_read) return;
  r.env_read = true;
  const char* v = std::getenv("FASTLAYERS_IMPL");
  if (!v) return;
  std::string s(v);
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(start, end - start);
    const size_t colon = item.find(':');
    if (colon != std::string::npos) r.env[item.substr(0, colon)] = item.substr(colon + 1);
    else if (!item.empty()) r.env[item] = "";  // "op" alone: reported as a missing name when op runs
    start = end + 1;
  }
}

void check_known(Registry& r, const std::string& op, const std::string& name, const char* who) {
  auto it = r.names.find(op);
  if (it == r.names.end()) {
    std::string ops;
    for (const auto& kv : r.names) ops += (ops.empty() ? "" : ", ") + kv.first;
    throw ValueError(cat_str(who, ": unknown op '", op, "'; ops with implementation lists: ", ops));
  }
  if (name.empty() && std::strcmp(who, "FASTLAYERS_IMPL") != 0) return;  // set_impl(op, ""), impls(op)
  if (std::find(it->second.begin(), it->second.end(), name) == it->second.end()) {
    std::string names;
    for (const auto& n : it->second) names += (names.empty() ? "" : ", ") + n;
    throw ValueError(cat_str(who, ": ", op, " has no implementation '", name, "'; it has ", names));
  }
}

}  // namespace

void register_impl_names(const char* op, const std::vector<const char*>& names) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string>& have = r.names[op];
  for (const char* n : names)
    if (std::find(have.begin(), have.end(), n) == have.end()) have.push_back(n);
  // The reference stays last in the union, so the listing reads fastest first.
  auto ref = std::find(have.begin(), have.end(), "reference");
  if (ref != have.end()) std::rotate(ref, ref + 1, have.end());
}

std::vector<std::string> impl_ops() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> ops;
  for (const auto& kv : r.names) ops.push_back(kv.first);
  return ops;
}

std::vector<std::string> impl_names(const std::string& op) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  check_known(r, op, "", "impls");
  return r.names[op];
}

void set_impl(const std::string& op, const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  check_known(r, op, name, "set_impl");
  read_env(r);
  if (name.empty()) {
    r.forced.erase(op);
    r.env.erase(op);  // "" restores the automatic choice, whatever the environment said
  } else {
    r.forced[op] = name;
  }
  g_any_forced.store(!r.forced.empty() || !r.env.empty());
}

std::string forced_impl(const char* op) {
  if (!g_any_forced.load(std::memory_order_relaxed)) return std::string();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  read_env(r);
  auto it = r.forced.find(op);
  if (it != r.forced.end()) return it->second;
  it = r.env.find(op);
  if (it == r.env.end()) return std::string();
  check_known(r, op, it->second, "FASTLAYERS_IMPL");
  return it->second;
}

bool verbose() { return g_verbose.load(std::memory_order_relaxed); }
void set_verbose(bool on) { g_verbose.store(on); }

void set_log_sink(std::function<void(const std::string&)> sink) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.sink = std::move(sink);
}

void log_line(const std::string& line) {
  std::function<void(const std::string&)> sink;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    sink = r.sink;
  }
  if (sink) sink(line);
  else std::fprintf(stderr, "fastlayers: %s\n", line.c_str());
}

namespace impl_detail {

std::string names_of(const std::vector<const char*>& names) {
  std::string s;
  for (const char* n : names) s += std::string(s.empty() ? "" : ", ") + n;
  return s;
}

void unknown_name(const char* op, const char* forced, const std::vector<const char*>& names) {
  throw ValueError(cat_str(op, ": impl must be one of ", names_of(names), ", got '", forced, "'"));
}

void forced_declines(const char* op, const char* name, const char* needs, const std::string& desc) {
  throw ValueError(cat_str(op, ": implementation '", name, "' does not accept ", desc,
                           needs ? cat_str(" (it needs ", needs, ")") : std::string()));
}

void log_choice(const char* op, const char* pass, const std::string& desc, const std::string& declined,
                const char* chosen, const char* how) {
  log_line(cat_str(op, " ", pass, " ", desc, " -> ", chosen, how ? cat_str(" (", how, ")") : std::string(),
                   declined.empty() ? std::string() : cat_str(" [", declined, "]")));
}

}  // namespace impl_detail
}  // namespace fl
