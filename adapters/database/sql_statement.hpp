#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/message.hpp"
#include "switchboard/template.hpp"

namespace switchboard::adapters::database {

enum class Dialect { Sqlite, Postgres };

/// One `:name` placeholder: a JSON path into the body (`:order.id`, `:items[0].sku`), a
/// header (`:header.X-Trace`), a property (`:prop.NAME`) or the message id (`:message.id`).
class Parameter {
 public:
  /// Parses the text after the colon. Throws SyntaxError.
  static Parameter parse(std::string_view name);

  /// The value bound for `message`. Throws MessageError when it is absent.
  nlohmann::json value(const Message& message) const;
  const std::string& name() const noexcept { return name_; }

 private:
  enum class Source { Body, Header, Property, MessageId };
  Source source_ = Source::Body;
  std::string name_;  // as written, without the colon
  std::string key_;   // header or property name
  JsonPath path_;
};

/// SQL with `:name` placeholders, parsed once: the placeholders become positional ones of
/// the database (`?1`, `$1`), so values are always bound, never spliced into the text.
/// Quoted strings and identifiers, dollar quotes, comments and `::` casts are left alone.
class SqlStatement {
 public:
  /// Throws SyntaxError with the offset of the problem (an unterminated quote, a bad name).
  static SqlStatement parse(std::string_view sql);

  /// The statement with positional placeholders numbered as parameters() is ordered.
  std::string text(Dialect dialect) const;
  /// Distinct placeholders, in order of first appearance.
  const std::vector<Parameter>& parameters() const noexcept { return parameters_; }
  /// The values of parameters() for `message`. Throws MessageError.
  std::vector<nlohmann::json> bind(const Message& message) const;

  /// The table named after the first FROM, as written (`orders`, `app."Orders"`), or "".
  const std::string& firstTable() const noexcept { return first_table_; }
  /// True when the statement has its own row locking clause (FOR UPDATE, FOR SHARE, ...).
  bool locksRows() const noexcept { return locks_rows_; }
  const std::string& original() const noexcept { return original_; }

 private:
  struct Piece {
    std::string literal;  // text before the placeholder
    int parameter = -1;   // index into parameters_, -1 for the trailing text
  };
  std::string original_;
  std::vector<Piece> pieces_;
  std::vector<Parameter> parameters_;
  std::string first_table_;
  bool locks_rows_ = false;
};

/// `first_table` without identifier quotes: `app."Orders"` -> `app.Orders`.
std::string unquoteIdentifier(std::string_view identifier);

}  // namespace switchboard::adapters::database
