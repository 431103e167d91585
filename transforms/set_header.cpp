#include "transforms.hpp"

namespace switchboard::transforms {

namespace {
/// Sets headers from templates, in the order written; a later template sees earlier headers.
class SetHeader final : public Transform {
 public:
  explicit SetHeader(std::vector<std::pair<std::string, Template>> headers) : headers_(std::move(headers)) {}
  Status apply(Message& message) override {
    for (const auto& [name, value] : headers_) message.headers().set(name, value.render(message));
    return Status::ok();
  }

 private:
  std::vector<std::pair<std::string, Template>> headers_;
};
}  // namespace

void registerSetHeader(Registrar& registrar) {
  registrar.addTransform(ComponentSpec{"set-header",
                                       "Sets headers from templates.",
                                       {{"", OptionType::TemplateMap, true, "", "map of header name to template"}}},
                         [](const Options& options) { return std::make_unique<SetHeader>(options.templateMap("")); });
}

}  // namespace switchboard::transforms
