// The `redis` outbound adapter: each message's body is pushed onto a Redis list (RPUSH or
// LPUSH) or published on a channel (PUBLISH), under a key rendered per message.
//   - redis: { url: "redis://127.0.0.1:6379", key: "orders:${header.X-Region}" }
// Connections are kept in a pool and reused; one broken by the server is dropped and the
// message retried (a transient failure), while an error reply (a key of another type) is
// permanent.
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "switchboard/metrics.hpp"
#include "switchboard/plugin.hpp"

namespace {

using namespace switchboard;

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int database = 0;
};

/// redis://host[:port][/database]
Endpoint parseUrl(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) throw OptionError("url", "url must look like redis://host:port/database");
  Endpoint endpoint;
  std::string rest = url.substr(scheme.size());
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    const auto database = rest.substr(slash + 1);
    if (!database.empty()) {
      try {
        endpoint.database = std::stoi(database);
      } catch (const std::exception&) {
        throw OptionError("url", "the database in " + url + " is not a number");
      }
    }
    rest = rest.substr(0, slash);
  }
  if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    try {
      endpoint.port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      throw OptionError("url", "the port in " + url + " is not a number");
    }
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) endpoint.host = rest;
  return endpoint;
}

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisOutbound final : public OutboundAdapter {
 public:
  RedisOutbound(Endpoint endpoint, Template key, std::string command, std::chrono::milliseconds timeout,
                const std::string& route)
      : endpoint_(std::move(endpoint)),
        key_(std::move(key)),
        command_(std::move(command)),
        timeout_(timeout),
        // On the admin API's /metrics beside the bus's own.
        connects_(counter("redis_connects_total", "Connections the redis adapter opened.", {{"route", route}})),
        replies_ok_(counter("redis_commands_total", "Commands the redis adapter sent, by outcome.",
                            {{"route", route}, {"outcome", "ok"}})),
        replies_failed_(counter("redis_commands_total", "Commands the redis adapter sent, by outcome.",
                                {{"route", route}, {"outcome", "failed"}})) {}

  Status send(Message& message) override {
    const std::string key = key_.render(message);
    if (key.empty()) return Status::badInput("the redis key is empty for this message");
    std::string error;
    Context context = acquire(error);
    if (!context) return Status::transient(error);
    const std::string& body = message.body();
    Reply reply(static_cast<redisReply*>(
        redisCommand(context.get(), "%s %b %b", command_.c_str(), key.data(), key.size(), body.data(), body.size())));
    if (!reply) {
      // The connection is broken (the server went away, a timeout): drop it, retry the message.
      replies_failed_.add();
      return Status::transient(command_ + " " + key + " at " + address() + " failed: " + context->errstr);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      replies_failed_.add();
      release(std::move(context));
      return Status::permanent(command_ + " " + key + ": " + std::string(reply->str, reply->len));
    }
    if (reply->type == REDIS_REPLY_INTEGER) message.headers().set("redis.reply", std::to_string(reply->integer));
    replies_ok_.add();
    release(std::move(context));
    return Status::ok();
  }

  std::string describe() const override { return "redis " + command_ + " " + address() + " " + key_.text(); }

 private:
  std::string address() const { return endpoint_.host + ":" + std::to_string(endpoint_.port); }

  Context acquire(std::string& error) {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        Context context = std::move(idle_.back());
        idle_.pop_back();
        return context;
      }
    }
    const timeval timeout{static_cast<time_t>(timeout_.count() / 1000),
                          static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
    Context context(redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, timeout));
    if (!context || context->err) {
      error = "cannot connect to redis at " + address() + ": " + (context ? context->errstr : "out of memory");
      return nullptr;
    }
    redisSetTimeout(context.get(), timeout);
    connects_.add();
    if (endpoint_.database != 0) {
      Reply selected(static_cast<redisReply*>(redisCommand(context.get(), "SELECT %d", endpoint_.database)));
      if (!selected || selected->type == REDIS_REPLY_ERROR) {
        error = "cannot select database " + std::to_string(endpoint_.database) + " at " + address();
        return nullptr;
      }
    }
    return context;
  }

  void release(Context context) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(context));
  }

  Endpoint endpoint_;
  Template key_;
  std::string command_;
  std::chrono::milliseconds timeout_;
  Counter& connects_;
  Counter& replies_ok_;
  Counter& replies_failed_;
  std::mutex mutex_;
  std::vector<Context> idle_;  // connections between messages; several workers send at once
};

ComponentSpec redisSpec() {
  return ComponentSpec{
      "redis",
      "Pushes each message's body onto a Redis list, or publishes it on a channel.",
      {{"url", OptionType::String, false, "redis://127.0.0.1:6379", "redis://host:port/database"},
       {"key", OptionType::Template, true, "", "the list or channel, rendered per message"},
       {"command", OptionType::Enum, false, "RPUSH", "how the body is sent", {"RPUSH", "LPUSH", "PUBLISH"}},
       {"timeout", OptionType::Duration, false, "5s", "connect and reply timeout"}}};
}

std::unique_ptr<OutboundAdapter> makeRedis(const Options& options) {
  return std::make_unique<RedisOutbound>(parseUrl(options.string("url")), options.templ("key"),
                                         options.string("command"), options.duration("timeout"),
                                         options.scope().route_id);
}

void registerRedis(Registrar& registrar) {
  registrar.addOutbound(redisSpec(), makeRedis);
}

}  // namespace

SWITCHBOARD_PLUGIN("redis", "1.0.0", registerRedis)
