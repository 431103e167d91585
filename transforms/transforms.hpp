#pragma once

#include "switchboard/plugin.hpp"

namespace switchboard::transforms {

// Each transform registers itself through one of these, called by the plugin's entry point.
void registerSetHeader(Registrar& registrar);
void registerRemoveHeader(Registrar& registrar);
void registerSetBody(Registrar& registrar);
void registerFilter(Registrar& registrar);
void registerMap(Registrar& registrar);
void registerTemplate(Registrar& registrar);
void registerJsonXml(Registrar& registrar);
void registerCsv(Registrar& registrar);

}  // namespace switchboard::transforms
