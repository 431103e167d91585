#include "transforms.hpp"

namespace switchboard::transforms {

namespace {
class SetBody final : public Transform {
 public:
  explicit SetBody(Template body) : body_(std::move(body)) {}
  Status apply(Message& message) override {
    message.setBody(body_.render(message));
    return Status::ok();
  }

 private:
  Template body_;
};
}  // namespace

void registerSetBody(Registrar& registrar) {
  registrar.addTransform(ComponentSpec{"set-body",
                                       "Replaces the body with a template's text; the content type stays.",
                                       {{"", OptionType::Template, true, "", "template of the new body"}}},
                         [](const Options& options) { return std::make_unique<SetBody>(options.templ("")); });
}

}  // namespace switchboard::transforms
