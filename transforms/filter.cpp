#include "transforms.hpp"

namespace switchboard::transforms {

namespace {
class Filter final : public Transform {
 public:
  explicit Filter(Expression condition) : condition_(std::move(condition)) {}
  Status apply(Message& message) override { return condition_.test(message) ? Status::ok() : Status::drop(); }

 private:
  Expression condition_;
};
}  // namespace

void registerFilter(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"filter",
                    "Drops the messages for which an expression is false; a dropped message is done.",
                    {{"", OptionType::Expression, true, "", "guard expression: messages pass when it is true"}}},
      [](const Options& options) { return std::make_unique<Filter>(options.expression("")); });
}

}  // namespace switchboard::transforms
