// Entry point of libswitchboard-transforms.so: the built-in transforms.
#include "transforms.hpp"

namespace {
void registerTransforms(switchboard::Registrar& registrar) {
  using namespace switchboard::transforms;
  registerSetHeader(registrar);
  registerRemoveHeader(registrar);
  registerSetBody(registrar);
  registerFilter(registrar);
  registerMap(registrar);
  registerTemplate(registrar);
  registerJsonXml(registrar);
  registerCsv(registrar);
  registerValidate(registrar);
  registerJq(registrar);
  registerXPath(registrar);
  registerSplit(registrar);
}
}  // namespace

SWITCHBOARD_PLUGIN("transforms", "0.1.0", registerTransforms)
