#include "log_endpoint.hpp"

namespace switchboard::adapters::log {

ComponentSpec LogOptions::spec(const char* summary) {
  return ComponentSpec{"log",
                       summary,
                       {
                           {"level",
                            OptionType::Enum,
                            false,
                            "info",
                            "log level of the line",
                            {"trace", "debug", "info", "warn", "error"}},
                           {"message", OptionType::Template, false, "${body}", "text of the line"},
                       }};
}

LogOptions LogOptions::from(const Options& options) {
  LogOptions o;
  o.level = parseLogLevel(options.string("level")).value_or(LogLevel::Info);
  o.message = options.templ("message");
  return o;
}

Status LogEndpoint::apply(Message& message) {
  if (Logger::instance().enabled(options_.level)) {
    Logger::instance().write(options_.level, options_.message.render(message),
                             {{"route", route_id_}, {"message", message.id()}});
  }
  return Status::ok();
}

std::string LogEndpoint::describe() const {
  return "log " + std::string(logLevelName(options_.level));
}

}  // namespace switchboard::adapters::log
