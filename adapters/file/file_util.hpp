#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace switchboard::adapters::file {

std::string errnoText();
/// Reads a whole file; false (errno set) when it cannot.
bool readFile(const std::filesystem::path& path, std::string& out);
/// Writes `data` to a hidden temporary file beside `target`, then renames it into place, so
/// a reader never sees part of a file. Returns an error text, empty on success.
std::string writeAtomically(const std::filesystem::path& target, std::string_view data, bool sync);
/// Appends `data` to `target`, creating it. Returns an error text, empty on success.
std::string append(const std::filesystem::path& target, std::string_view data, bool sync);
/// A content type from the file name's extension.
std::string contentTypeFor(const std::filesystem::path& path);

}  // namespace switchboard::adapters::file
