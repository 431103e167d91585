#pragma once
// Equality of nlohmann/json trees down to the kind of each value and the order of keys: a
// signed and an unsigned 5 compare equal with ==, and NaN equals nothing.

#include <cmath>
#include <cstddef>

#include <nlohmann/json.hpp>

namespace switchboard::testing {

template <typename Json>
bool sameTree(const Json& a, const Json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !sameTree(ia.value(), ib.value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!sameTree(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b ||
         (a.is_number_float() && std::isnan(a.template get<double>()) && std::isnan(b.template get<double>()));
}

}  // namespace switchboard::testing
