#include "transforms.hpp"

namespace switchboard::transforms {

namespace {
class RemoveHeader final : public Transform {
 public:
  explicit RemoveHeader(std::vector<std::string> names) : names_(std::move(names)) {}
  Status apply(Message& message) override {
    for (const auto& name : names_) message.headers().remove(name);
    return Status::ok();
  }

 private:
  std::vector<std::string> names_;
};
}  // namespace

void registerRemoveHeader(Registrar& registrar) {
  registrar.addTransform(ComponentSpec{"remove-header",
                                       "Removes headers by name (case-insensitive).",
                                       {{"", OptionType::StringList, true, "", "header names to remove"}}},
                         [](const Options& options) { return std::make_unique<RemoveHeader>(options.list("")); });
}

}  // namespace switchboard::transforms
