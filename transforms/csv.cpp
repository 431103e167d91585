// csv-to-json and json-to-csv (RFC 4180: quoted fields, doubled quotes, CRLF or LF,
// line breaks inside quotes).
#include <algorithm>

#include "switchboard/json_parse.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

struct Row {
  std::vector<std::string> fields;
  std::size_t line = 0;  // where the row starts, 1-based
};

/// Splits CSV text into rows; an error text names the line of a malformed row.
std::string parseCsv(std::string_view text, char delimiter, std::vector<Row>& rows) {
  // Spreadsheets save UTF-8 CSV with a byte order mark, which would otherwise start the first name.
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  std::size_t line = 1;
  while (i < text.size()) {
    Row row;
    row.line = line;
    std::string field;
    bool row_done = false;
    // A blank line holds no row.
    if (text[i] == '\n' || (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      i += text[i] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    while (!row_done) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= text.size()) return "line " + std::to_string(row.line) + ": a quoted field is not closed";
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i++];
        }
        if (i < text.size() && text[i] != delimiter && text[i] != '\n' && text[i] != '\r') {
          return "line " + std::to_string(line) + ": text after a closing quote";
        }
      } else {
        while (i < text.size() && text[i] != delimiter && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') return "line " + std::to_string(line) + ": a quote inside an unquoted field";
          field += text[i++];
        }
      }
      row.fields.push_back(field);
      if (i < text.size() && text[i] == delimiter) {
        ++i;
      } else {
        if (i < text.size() && text[i] == '\r') ++i;
        if (i < text.size() && text[i] == '\n') ++i;
        ++line;
        row_done = true;
      }
    }
    rows.push_back(std::move(row));
  }
  return {};
}

nlohmann::ordered_json typed(const std::string& text, bool auto_types) {
  if (!auto_types) return text;
  if (text.empty()) return nullptr;
  return typedScalar(text);
}

class CsvToJson final : public Transform {
 public:
  CsvToJson(char delimiter, bool header, std::vector<std::string> columns, bool auto_types)
      : delimiter_(delimiter), header_(header), columns_(std::move(columns)), auto_types_(auto_types) {}

  Status apply(Message& message) override {
    std::vector<Row> rows;
    if (auto error = parseCsv(message.body(), delimiter_, rows); !error.empty()) {
      return Status::badInput("malformed CSV: " + error);
    }
    std::vector<std::string> names = columns_;
    std::size_t first = 0;
    if (header_ && !rows.empty()) {
      if (names.empty()) {
        names = rows[0].fields;
        // A repeated name would keep only its last column: data lost without a word.
        for (std::size_t c = 1; c < names.size(); ++c) {
          if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(c), names[c]) !=
              names.begin() + static_cast<std::ptrdiff_t>(c)) {
            return Status::badInput("malformed CSV: line " + std::to_string(rows[0].line) + ": column '" + names[c] +
                                    "' appears twice");
          }
        }
      }
      first = 1;
    }
    auto out = nlohmann::ordered_json::array();
    for (std::size_t r = first; r < rows.size(); ++r) {
      const auto& row = rows[r];
      if (names.empty()) {
        auto values = nlohmann::ordered_json::array();
        for (const auto& field : row.fields) values.push_back(typed(field, auto_types_));
        out.push_back(std::move(values));
        continue;
      }
      if (row.fields.size() != names.size()) {
        return Status::badInput("malformed CSV: line " + std::to_string(row.line) + " has " +
                                std::to_string(row.fields.size()) + " fields, expected " +
                                std::to_string(names.size()));
      }
      auto object = nlohmann::ordered_json::object();  // keeps the column order
      for (std::size_t c = 0; c < names.size(); ++c) object[names[c]] = typed(row.fields[c], auto_types_);
      out.push_back(std::move(object));
    }
    message.setBody(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return Status::ok();
  }

 private:
  char delimiter_;
  bool header_;
  std::vector<std::string> columns_;
  bool auto_types_;
};

class JsonToCsv final : public Transform {
 public:
  JsonToCsv(char delimiter, bool header, std::vector<std::string> columns)
      : delimiter_(delimiter), header_(header), columns_(std::move(columns)) {}

  Status apply(Message& message) override {
    if (nestedTooDeep(message.body())) {
      return Status::badInput("body is nested deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    nlohmann::ordered_json rows;
    try {
      rows = json::parse<nlohmann::ordered_json>(message.body());
    } catch (const nlohmann::json::exception& e) {
      return Status::badInput(std::string("body is not valid JSON: ") + e.what());
    }
    if (rows.is_object()) rows = nlohmann::ordered_json::array({rows});
    if (!rows.is_array()) return Status::badInput("json-to-csv needs an array of objects or of arrays");
    std::vector<std::string> names = columns_;
    if (names.empty() && !rows.empty() && rows[0].is_object()) {
      for (const auto& item : rows[0].items()) names.push_back(item.key());
    }
    std::string out;
    if (header_ && !names.empty()) writeRow(out, names);
    std::size_t index = 0;
    for (const auto& row : rows) {
      std::vector<std::string> fields;
      if (row.is_object()) {
        for (const auto& name : names) {
          auto it = row.find(name);
          fields.push_back(it == row.end() ? std::string() : text(*it));
        }
      } else if (row.is_array()) {
        for (const auto& value : row) fields.push_back(text(value));
      } else {
        return Status::badInput("json-to-csv: row " + std::to_string(index) + " is neither an object nor an array");
      }
      writeRow(out, fields);
      ++index;
    }
    message.setBody(std::move(out), "text/csv");
    return Status::ok();
  }

 private:
  static std::string text(const nlohmann::ordered_json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_null()) return {};
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  void writeRow(std::string& out, const std::vector<std::string>& fields) const {
    // A row of one empty field would be a blank line, which readers skip: quote it.
    if (fields.size() == 1 && fields[0].empty()) {
      out += "\"\"\r\n";
      return;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) out += delimiter_;
      const auto& field = fields[i];
      // A leading byte order mark would be taken for the file's own and dropped when read: quote it.
      if (field.find_first_of(std::string{delimiter_, '"', '\r', '\n'}) == std::string::npos &&
          !field.starts_with("\xEF\xBB\xBF")) {
        out += field;
        continue;
      }
      out += '"';
      for (const char c : field) {
        if (c == '"') out += '"';
        out += c;
      }
      out += '"';
    }
    out += "\r\n";
  }

  char delimiter_;
  bool header_;
  std::vector<std::string> columns_;
};

char delimiterOf(const Options& options) {
  const auto text = options.string("delimiter");
  if (text == "\\t" || text == "tab") return '\t';
  if (text.size() != 1 || text[0] == '"' || text[0] == '\n' || text[0] == '\r') {
    throw OptionError("delimiter", "the delimiter is one character (not a quote or a line break), or \\t");
  }
  return text[0];
}

}  // namespace

void registerCsv(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"csv-to-json",
                    "Converts a CSV body (RFC 4180) to a JSON array: one object per row, or one array per row "
                    "without names.",
                    {
                        {"delimiter", OptionType::String, false, ",", "field separator: one character, or \\t"},
                        {"header", OptionType::Bool, false, "true", "the first row names the columns"},
                        {"columns", OptionType::StringList, false, "[]", "column names (override the header row)"},
                        {"types",
                         OptionType::Enum,
                         false,
                         "string",
                         "string: every field is text; auto: numbers, booleans, empty as null",
                         {"string", "auto"}},
                    }},
      [](const Options& options) {
        return std::make_unique<CsvToJson>(delimiterOf(options), options.boolean("header"), options.list("columns"),
                                           options.string("types") == "auto");
      });
  registrar.addTransform(
      ComponentSpec{
          "json-to-csv",
          "Converts a JSON array of objects (or of arrays) to CSV (RFC 4180, CRLF line ends).",
          {
              {"delimiter", OptionType::String, false, ",", "field separator: one character, or \\t"},
              {"header", OptionType::Bool, false, "true", "write a header row of column names"},
              {"columns", OptionType::StringList, false, "[]", "column order (default: keys of the first row)"},
          }},
      [](const Options& options) {
        return std::make_unique<JsonToCsv>(delimiterOf(options), options.boolean("header"), options.list("columns"));
      });
}

}  // namespace switchboard::transforms
