#include "core/base/json_parse_error.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace strata {
namespace {

constexpr size_t kNotFound = absl::string_view::npos;
// Bytes of context protobuf shows after the fault (its kContextLength).
constexpr size_t kContextBytes = 20;

std::string LineAndColumn(absl::string_view text, size_t offset) {
  const absl::string_view before = text.substr(0, offset);
  const size_t line_start = before.rfind('\n') == kNotFound ? 0 : before.rfind('\n') + 1;
  const int64_t line = 1 + std::count(before.begin(), before.end(), '\n');
  // Characters, not bytes: UTF-8 continuation bytes do not count.
  int64_t column = 1;
  for (char c : before.substr(line_start)) column += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return absl::StrCat("line ", line, ", column ", column);
}

// "Expected , or } after key:value pair." -> "expected , or } after key:value pair"
std::string Clause(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  absl::ConsumeSuffix(&s, ".");
  std::string out = absl::StrReplaceAll(s, {{"\n", " "}});
  if (!out.empty()) out[0] = absl::ascii_tolower(out[0]);
  return out;
}

// The offset of a syntax error shown as `context` with the caret at
// `caret`, or kNotFound.
size_t SyntaxErrorOffset(absl::string_view json, absl::string_view context, size_t caret) {
  if (caret > context.size()) return kNotFound;
  if (context.size() - caret < kContextBytes) {
    return absl::EndsWith(json, context) ? json.size() - context.size() + caret : kNotFound;
  }
  const size_t at = json.find(context);
  return at == kNotFound ? kNotFound : at + caret;
}

// The offset of the quoted key of the field at `path` ("optimizer.beta1",
// "encoder_widths[1]"), each key after its parent's, or kNotFound.
size_t FieldOffset(absl::string_view json, absl::string_view path) {
  size_t at = 0;
  for (absl::string_view key : absl::StrSplit(path, '.')) {
    key = key.substr(0, key.find('['));
    at = json.find(absl::StrCat("\"", key, "\""), at);
    if (at == kNotFound) return kNotFound;
  }
  return at;
}

}  // namespace

std::string DescribeJsonParseError(absl::string_view json, absl::string_view message) {
  // A syntax error: message, context, caret.
  const size_t first_break = message.find('\n');
  if (first_break != kNotFound) {
    const absl::string_view what = message.substr(0, first_break);
    const size_t last_break = message.rfind('\n');
    const absl::string_view caret_line = message.substr(last_break + 1);
    if (last_break > first_break && absl::EndsWith(caret_line, "^") &&
        caret_line.find_first_not_of(' ') == caret_line.size() - 1) {
      const absl::string_view context =
          message.substr(first_break + 1, last_break - first_break - 1);
      const size_t offset = SyntaxErrorOffset(json, context, caret_line.size() - 1);
      if (offset != kNotFound) return absl::StrCat(LineAndColumn(json, offset), ": ", Clause(what));
    }
    return Clause(what);
  }
  // A field: "(parent.path) name: message", "(path): message" or
  // "name: message" ("" at the root: ": message").
  absl::string_view rest = message;
  std::string path;
  if (absl::ConsumePrefix(&rest, "(")) {
    const size_t close = rest.find(')');
    if (close == kNotFound) return Clause(message);
    path = std::string(rest.substr(0, close));
    rest.remove_prefix(close + 1);
  }
  if (!absl::ConsumePrefix(&rest, ": ")) {
    absl::ConsumePrefix(&rest, " ");
    const size_t colon = rest.find(": ");
    if (colon == kNotFound) return Clause(message);
    path = path.empty() ? std::string(rest.substr(0, colon))
                        : absl::StrCat(path, ".", rest.substr(0, colon));
    rest.remove_prefix(colon + 2);
  }
  if (path.empty()) return Clause(rest);
  const size_t offset = FieldOffset(json, path);
  return absl::StrCat(offset == kNotFound ? "" : LineAndColumn(json, offset) + ": ", path, ": ",
                      Clause(rest));
}

}  // namespace strata
