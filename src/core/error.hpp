// Errors as values: what a flow returns when a command is refused, and what HTTP turns into
// a JSON body. `code` and `message` are stable texts a client may match on.
#pragma once

#include <nlohmann/json.hpp>

#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace medflow {

struct error {
  int status = 500;        // the HTTP status it maps to
  std::string code;        // stable machine code, e.g. "not_found"
  std::string message;     // stable human text
  nlohmann::json detail;   // optional flow-specific payload (null when absent)

  static error bad_request(std::string msg) { return {400, "bad_request", std::move(msg), {}}; }
  static error not_found(std::string msg) { return {404, "not_found", std::move(msg), {}}; }
  static error conflict(std::string msg) { return {409, "conflict", std::move(msg), {}}; }
  static error unprocessable(std::string msg) {
    return {422, "unprocessable_entity", std::move(msg), {}};
  }
  static error internal(std::string msg) { return {500, "internal_error", std::move(msg), {}}; }
};

// Thrown where an error value has to cross a layer that only knows exceptions (e.g. a store
// unit of work running on the writer thread).
class error_exception : public std::runtime_error {
 public:
  explicit error_exception(error e) : std::runtime_error(e.message), err_(std::move(e)) {}
  const error& err() const noexcept { return err_; }

 private:
  error err_;
};

// The text of a caught exception for logs and exit reasons: its what(), or "unknown exception"
// when it is not a std::exception. A null pointer (what done callbacks get on success) is "".
inline std::string describe(std::exception_ptr e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

// The HTTP status a caught failure maps to: an error_exception's own (e.g. 507 when the store's
// disk is full), else 500.
inline int status_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const error_exception& ex) {
    return ex.err().status;
  } catch (...) {
    return 500;
  }
}

// The completion of asynchronous durable work (a store unit, an offset commit, a record's
// handling): called exactly once, from any thread, with nullptr once the work is durable or
// with the failure.
using done_fn = std::function<void(std::exception_ptr)>;

// nlohmann's message without its "[json.exception.parse_error.101] " prefix: what a client
// of medflow reads, e.g. "parse error at line 1, column 2: syntax error ...".
inline std::string json_error_text(const std::exception& e) {
  std::string m = e.what();
  if (!m.empty() && m[0] == '[') {
    auto close = m.find("] ");
    if (close != std::string::npos) m.erase(0, close + 2);
  }
  return m;
}

// An expected<T>-like result: either a value or an error.
template <class T>
class result {
 public:
  result(T v) : v_(std::move(v)) {}          // NOLINT: implicit by design
  result(error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

struct unit_t {};
using status = result<unit_t>;
inline status ok_status() { return unit_t{}; }

}  // namespace medflow
