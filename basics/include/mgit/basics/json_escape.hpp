#pragma once

#include <string>
#include <string_view>

namespace mgit::basics {

/// Appends `text` to `out` as the body of a JSON string (no quotes), escaping as RFC 8259 wants;
/// bytes that are not well-formed UTF-8 become U+FFFD, so the output is always valid JSON.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace mgit::basics
