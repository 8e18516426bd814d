// Identifiers: random UUIDs (v4) and MongoDB-style ObjectIds (24 hex digits), which is what
// eHealth's job ids look like on the wire.
#pragma once

#include <string>
#include <string_view>

namespace medflow::ids {

std::string uuid4();
std::string object_id();
bool is_uuid(std::string_view s);
bool is_object_id(std::string_view s);
// A random token of `bytes` random bytes, hex-encoded.
std::string random_hex(size_t bytes);

}  // namespace medflow::ids
