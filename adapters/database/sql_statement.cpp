#include "sql_statement.hpp"

#include <algorithm>
#include <cctype>

#include "switchboard/status.hpp"

namespace switchboard::adapters::database {
namespace {

bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string upper(std::string_view word) {
  std::string out(word);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

/// The end of the quoted text starting at `start` (`quote` doubled inside is one character;
/// with `backslash`, a backslash escapes the next one), or npos when it never ends.
std::size_t skipQuoted(std::string_view sql, std::size_t start, char quote, bool backslash) {
  for (std::size_t i = start + 1; i < sql.size(); ++i) {
    if (backslash && sql[i] == '\\') {
      ++i;
    } else if (sql[i] == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        ++i;
      } else {
        return i + 1;
      }
    }
  }
  return std::string_view::npos;
}

/// A PostgreSQL dollar quote `$tag$ ... $tag$` at `start`: its end, `start` when there is
/// none here (a `$1` or a lone `$`), or npos when it never ends.
std::size_t skipDollarQuoted(std::string_view sql, std::size_t start) {
  std::size_t tag_end = start + 1;
  if (tag_end < sql.size() && isIdentStart(sql[tag_end])) {
    while (tag_end < sql.size() && isIdentChar(sql[tag_end])) ++tag_end;
  }
  if (tag_end >= sql.size() || sql[tag_end] != '$') return start;
  const auto tag = sql.substr(start, tag_end - start + 1);
  const auto close = sql.find(tag, tag_end + 1);
  return close == std::string_view::npos ? close : close + tag.size();
}

/// The placeholder name starting at `start` (just after the colon).
std::size_t scanName(std::string_view sql, std::size_t start) {
  std::size_t i = start;
  const bool header = sql.substr(start, 7) == "header.";
  if (header) {
    // Header names may hold dashes and dots: `:header.X-Trace-Id`, `:header.file.name`.
    i += 7;
    while (i < sql.size() &&
           (isIdentChar(sql[i]) || sql[i] == '-' || (sql[i] == '.' && i + 1 < sql.size() && isIdentChar(sql[i + 1])))) {
      ++i;
    }
    return i;
  }
  while (i < sql.size()) {
    if (isIdentChar(sql[i])) {
      ++i;
    } else if (sql[i] == '.' && i + 1 < sql.size() && isIdentStart(sql[i + 1])) {
      ++i;
    } else if (sql[i] == '[') {
      std::size_t j = i + 1;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
      if (j == i + 1 || j >= sql.size() || sql[j] != ']') break;
      i = j + 1;
    } else {
      break;
    }
  }
  return i;
}

}  // namespace

Parameter Parameter::parse(std::string_view name) {
  Parameter p;
  p.name_ = std::string(name);
  auto keyAfter = [&](std::string_view prefix) {
    if (name.size() == prefix.size()) throw SyntaxError(0, "':" + std::string(name) + "' needs a name after the dot");
    return std::string(name.substr(prefix.size()));
  };
  if (name.starts_with("header.")) {
    p.source_ = Source::Header;
    p.key_ = keyAfter("header.");
  } else if (name.starts_with("prop.")) {
    p.source_ = Source::Property;
    p.key_ = keyAfter("prop.");
  } else if (name == "message.id") {
    p.source_ = Source::MessageId;
  } else {
    p.path_ = JsonPath::parse(name);
  }
  return p;
}

nlohmann::json Parameter::value(const Message& message) const {
  switch (source_) {
    case Source::Header:
      if (const auto* value = message.headers().find(key_)) return *value;
      throw MessageError("parameter :" + name_ + ": the message has no header '" + key_ + "'");
    case Source::Property: {
      const auto it = message.properties().find(key_);
      if (it != message.properties().end()) return it->second;
      throw MessageError("parameter :" + name_ + ": the message has no property '" + key_ + "'");
    }
    case Source::MessageId: return message.id();
    case Source::Body: break;
  }
  if (const auto* value = path_.find(message.jsonBody())) return *value;
  throw MessageError("parameter :" + name_ + ": the body has no value at '" + name_ +
                     "' (write null in the body to bind NULL)");
}

SqlStatement SqlStatement::parse(std::string_view sql) {
  SqlStatement s;
  s.original_ = std::string(sql);
  std::string literal;
  std::string previous_word;  // the last keyword-like word, upper case
  bool want_table = false;
  std::size_t i = 0;
  auto unterminated = [](std::size_t at, const char* what) {
    return SyntaxError(at, std::string("unterminated ") + what);
  };
  while (i < sql.size()) {
    const char c = sql[i];
    std::size_t end = i + 1;
    if (c == '\'') {
      const bool escapes = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !isIdentChar(sql[i - 2]));
      end = skipQuoted(sql, i, '\'', escapes);
      if (end == std::string_view::npos) throw unterminated(i, "string literal");
    } else if (c == '"' || c == '`') {
      end = skipQuoted(sql, i, c, false);
      if (end == std::string_view::npos) throw unterminated(i, "quoted identifier");
    } else if (c == '-' && sql.substr(i, 2) == "--") {
      end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size();
    } else if (c == '/' && sql.substr(i, 2) == "/*") {
      end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) throw unterminated(i, "comment");
      end += 2;
    } else if (c == '$') {
      end = skipDollarQuoted(sql, i);
      if (end == std::string_view::npos) throw unterminated(i, "dollar-quoted string");
      if (end == i) end = i + 1;
    } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {
      end = i + 2;  // a cast
    } else if (c == ':' && i + 1 < sql.size() && isIdentStart(sql[i + 1]) && (i == 0 || !isIdentChar(sql[i - 1]))) {
      end = scanName(sql, i + 1);
      const auto name = sql.substr(i + 1, end - i - 1);
      Parameter parameter;
      try {
        parameter = Parameter::parse(name);
      } catch (const SyntaxError& e) {
        throw SyntaxError(i + 1 + e.offset(), e.what());
      }
      const auto found = std::find_if(s.parameters_.begin(), s.parameters_.end(),
                                      [&](const Parameter& p) { return p.name() == parameter.name(); });
      const int index = static_cast<int>(found - s.parameters_.begin());
      if (found == s.parameters_.end()) s.parameters_.push_back(std::move(parameter));
      s.pieces_.push_back(Piece{std::move(literal), index});
      literal.clear();
      i = end;
      continue;
    } else if (isIdentStart(c)) {
      while (end < sql.size() && isIdentChar(sql[end])) ++end;
      const auto word = upper(sql.substr(i, end - i));
      if (want_table) {
        want_table = false;
        // A qualified name: schema.table, with either part quoted.
        std::size_t stop = end;
        while (stop < sql.size() && sql[stop] == '.') {
          std::size_t next = stop + 1;
          if (next < sql.size() && sql[next] == '"') {
            next = skipQuoted(sql, next, '"', false);
            if (next == std::string_view::npos) break;
          } else {
            while (next < sql.size() && isIdentChar(sql[next])) ++next;
          }
          stop = next;
        }
        if (s.first_table_.empty()) s.first_table_ = std::string(sql.substr(i, stop - i));
        end = stop;
      }
      if (word == "FROM" && s.first_table_.empty()) want_table = true;
      if (previous_word == "FOR" && (word == "UPDATE" || word == "SHARE" || word == "NO" || word == "KEY")) {
        s.locks_rows_ = true;
      }
      previous_word = word;
    }
    if (want_table && c == '"') {
      want_table = false;
      if (s.first_table_.empty()) s.first_table_ = std::string(sql.substr(i, end - i));
    } else if (want_table && !std::isspace(static_cast<unsigned char>(c)) && !isIdentStart(c)) {
      want_table = false;  // FROM (subquery), FROM a function call ...
    }
    literal.append(sql.substr(i, end - i));
    i = end;
  }
  s.pieces_.push_back(Piece{std::move(literal), -1});
  return s;
}

std::string SqlStatement::text(Dialect dialect) const {
  std::string out;
  out.reserve(original_.size() + 8);
  for (const auto& piece : pieces_) {
    out += piece.literal;
    if (piece.parameter >= 0) {
      out += dialect == Dialect::Postgres ? '$' : '?';
      out += std::to_string(piece.parameter + 1);
    }
  }
  return out;
}

std::vector<nlohmann::json> SqlStatement::bind(const Message& message) const {
  std::vector<nlohmann::json> values;
  values.reserve(parameters_.size());
  for (const auto& parameter : parameters_) values.push_back(parameter.value(message));
  return values;
}

std::string unquoteIdentifier(std::string_view identifier) {
  std::string out;
  for (std::size_t i = 0; i < identifier.size(); ++i) {
    if (identifier[i] != '"') {
      out += identifier[i];
    } else if (i + 1 < identifier.size() && identifier[i + 1] == '"') {
      out += '"';
      ++i;
    }
  }
  return out;
}

}  // namespace switchboard::adapters::database
