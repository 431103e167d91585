#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely
/// typo (at most a third of the name's length, and at least one edit allowed).
std::optional<std::string> closestName(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace switchboard
