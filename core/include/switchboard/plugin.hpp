#pragma once

/// The plugin boundary. Every adapter and transform, built-in ones included, is made
/// available to the bus by a shared library exporting `switchboard_plugin_v1`, which
/// returns a descriptor whose register function adds components to a Registrar.
/// Define it with SWITCHBOARD_PLUGIN(name, version, register_function).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "switchboard/log.hpp"
#include "switchboard/message.hpp"
#include "switchboard/options.hpp"
#include "switchboard/status.hpp"

static_assert(__cplusplus >= 202002L, "Switchboard plugins are built as C++20 or later");

#define SWITCHBOARD_ABI_MAJOR 1u
#define SWITCHBOARD_ABI_MINOR 3u

#define SWITCHBOARD_STRINGIFY_(x) #x
#define SWITCHBOARD_STRINGIFY(x) SWITCHBOARD_STRINGIFY_(x)
/// What must match between the bus and a plugin besides the ABI version: the standard
/// library, its string/list ABI and its debug mode, all of which change object layouts.
#if defined(_LIBCPP_VERSION)
#define SWITCHBOARD_BUILD_KEY "libc++"
#else
#if defined(_GLIBCXX_DEBUG)
#define SWITCHBOARD_STDLIB_DEBUG "1"
#else
#define SWITCHBOARD_STDLIB_DEBUG "0"
#endif
#define SWITCHBOARD_BUILD_KEY \
  "libstdc++;cxx11-abi=" SWITCHBOARD_STRINGIFY(_GLIBCXX_USE_CXX11_ABI) ";debug=" SWITCHBOARD_STDLIB_DEBUG
#endif

namespace switchboard {

/// How a message handed to the runtime ended.
struct Outcome {
  enum class Kind {
    Delivered,     ///< every endpoint succeeded
    Filtered,      ///< a filter dropped it: done
    DeadLettered,  ///< it failed and the dead letter endpoint took it: done
    Failed,        ///< it failed and nothing took it: leave the item unacknowledged
  };
  Kind kind = Kind::Delivered;
  Status status = Status::ok();  ///< the failure, for DeadLettered and Failed
  std::optional<Message> reply;  ///< request-reply: the message of the `reply` endpoint

  /// Whether a polling inbound may now remove the item from its source.
  bool acknowledge() const noexcept { return kind != Kind::Failed; }
};

/// The route's entrance, given to an inbound adapter at start. Completions run on runtime
/// threads, exactly once per accepted message, after every endpoint finished.
class Intake {
 public:
  using Completion = std::function<void(Outcome)>;
  enum class Admission { Accepted, Full, Closed };

  virtual ~Intake() = default;
  /// A message with a fresh id.
  virtual Message newMessage() = 0;
  /// Hands a message over without waiting, for an inbound whose caller waits for the answer:
  /// the completion's outcome carries the reply. Full when the route's queue has no room.
  virtual Admission offer(Message message, Completion done) = 0;
  /// Waits for room in the route's queue; false (message not taken) once the route stops.
  virtual bool deliver(Message message, Completion done) = 0;
  /// Waits for room without handing anything over, so a poller claims an item only when it
  /// can be taken; false once the route stops.
  virtual bool waitForRoom() = 0;
};

/// Produces messages: a server, a poller, a timer.
class InboundAdapter {
 public:
  virtual ~InboundAdapter() = default;
  /// Starts producing into `intake`; returns promptly. Throws std::runtime_error when it
  /// cannot start (an address in use, a directory that cannot be made).
  virtual void start(Intake& intake) = 0;
  /// Stops producing: no offer or deliver call after it returns. Completions of messages
  /// in flight still arrive afterwards, so the adapter must keep acknowledging them.
  virtual void stop() = 0;
  /// One line for the start-up banner: "file ./inbox/*.json".
  virtual std::string describe() const = 0;
  /// True when messages come from an event loop (a server's I/O threads). The route then
  /// runs them on that thread, without a hand-over to a worker, whenever none of its
  /// endpoints blocks.
  virtual bool eventDriven() const { return false; }
};

/// Sends a message somewhere. Called from several worker threads at once.
class OutboundAdapter {
 public:
  using Done = std::function<void(Status)>;

  virtual ~OutboundAdapter() = default;
  /// Sends `message`. On success it may replace the message (a response becomes the
  /// message for the next endpoint); on failure it must leave the message unchanged.
  virtual Status send(Message& message) = 0;
  /// Starts sending without blocking and calls `done` once, from any thread, when finished;
  /// `message` stays alive and untouched by others until then. Returns false when the
  /// adapter sends only through `send`.
  virtual bool sendAsync(Message& message, Done done) {
    (void)message;
    (void)done;
    return false;
  }
  /// False when neither `send` nor `sendAsync` waits on I/O, so the route may run it on an
  /// event loop thread.
  virtual bool blocks() const { return true; }
  virtual std::string describe() const = 0;
};

/// Changes a message in the route's pipeline. Called from several worker threads at once.
class Transform {
 public:
  virtual ~Transform() = default;
  virtual Status apply(Message& message) = 0;
};

/// A transform that makes several messages of one (`split`). The route runs the steps and
/// endpoints after it once per child, one child after another, and the message counts as
/// finished, for its inbound, when every child finished: at-least-once holds across a split.
class Splitter : public Transform {
 public:
  ~Splitter() override;
  /// The children of `message`, in order; none when there is nothing to split. Throws
  /// MessageError when the message cannot be split.
  virtual std::vector<Message> split(const Message& message) = 0;
  /// A splitter only works inside a route, which calls split().
  Status apply(Message& message) final;
};

using InboundFactory = std::function<std::unique_ptr<InboundAdapter>(const Options&)>;
using OutboundFactory = std::function<std::unique_ptr<OutboundAdapter>(const Options&)>;
using TransformFactory = std::function<std::unique_ptr<Transform>(const Options&)>;

/// Given to a plugin's register function; one plugin may add several components.
class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void addInbound(ComponentSpec spec, InboundFactory factory) = 0;
  virtual void addOutbound(ComponentSpec spec, OutboundFactory factory) = 0;
  virtual void addTransform(ComponentSpec spec, TransformFactory factory) = 0;
};

}  // namespace switchboard

extern "C" {
/// Returned by `switchboard_plugin_v1`. The first two fields never move, so any bus can
/// read the ABI version of any plugin before trusting the rest.
struct switchboard_plugin_descriptor {
  std::uint32_t abi_major;
  std::uint32_t abi_minor;
  const char* build_key;
  const char* name;
  const char* version;
  void (*register_components)(switchboard::Registrar& registrar);
};
}

/// Defines the plugin's entry point. Use once per plugin, in its *_plugin.cpp.
#define SWITCHBOARD_PLUGIN(NAME, VERSION, REGISTER_FUNCTION)                                                       \
  extern "C" __attribute__((visibility("default"))) const switchboard_plugin_descriptor* switchboard_plugin_v1() { \
    static const switchboard_plugin_descriptor descriptor{                                                         \
        SWITCHBOARD_ABI_MAJOR, SWITCHBOARD_ABI_MINOR, SWITCHBOARD_BUILD_KEY, NAME, VERSION, REGISTER_FUNCTION};    \
    return &descriptor;                                                                                            \
  }
