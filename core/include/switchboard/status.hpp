#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace switchboard {

/// What happened to a message in one step or endpoint. Failures on the message path are
/// values, not exceptions: the runtime turns them into retries, dead letters or replies.
class Status {
 public:
  enum class Code {
    Ok,
    Drop,       ///< a filter dropped the message: it is done, successfully
    BadInput,   ///< the message cannot be processed as it is (malformed body, failed check)
    Transient,  ///< worth retrying: peer down, timeout, 5xx
    Permanent,  ///< retrying will not help: the peer rejected the message
    Timeout,    ///< the peer or the route ran out of time; worth retrying within the route's time
  };

  static Status ok() { return Status(Code::Ok, {}); }
  static Status drop() { return Status(Code::Drop, {}); }
  static Status badInput(std::string message) { return Status(Code::BadInput, std::move(message)); }
  static Status transient(std::string message) { return Status(Code::Transient, std::move(message)); }
  static Status permanent(std::string message) { return Status(Code::Permanent, std::move(message)); }
  static Status timeout(std::string message) { return Status(Code::Timeout, std::move(message)); }

  bool isOk() const noexcept { return code_ == Code::Ok; }
  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool retryable() const noexcept { return code_ == Code::Transient || code_ == Code::Timeout; }
  /// The same kind of result with another text (to add context).
  Status withMessage(std::string message) const {
    Status status(code_, std::move(message));
    status.details_ = details_;
    return status;
  }
  /// Facts about a failure that the dead letter carries as headers beside error.* (for
  /// example soap.fault.code): the failing endpoint leaves the message itself unchanged.
  Status withDetail(std::string header, std::string value) && {
    details_.emplace_back(std::move(header), std::move(value));
    return std::move(*this);
  }
  const std::vector<std::pair<std::string, std::string>>& details() const noexcept { return details_; }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_;
  std::string message_;
  std::vector<std::pair<std::string, std::string>> details_;
};

/// Thrown by message-path helpers (templates, expressions, body access) when a message
/// cannot be evaluated; the runtime reports it as Status::badInput for that message only.
class MessageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by a plugin factory when an option's value is unusable. The loader reports it at
/// the option's `file:line:column`. `option` is a dotted path inside the endpoint
/// ("tls.cert"), or empty for the endpoint as a whole.
class OptionError : public std::runtime_error {
 public:
  OptionError(std::string option, const std::string& message, int column_offset = -1)
      : std::runtime_error(message), option_(std::move(option)), column_offset_(column_offset) {}
  const std::string& option() const noexcept { return option_; }
  /// Offset inside the option's text where the problem is, or -1.
  int columnOffset() const noexcept { return column_offset_; }

 private:
  std::string option_;
  int column_offset_;
};

}  // namespace switchboard
