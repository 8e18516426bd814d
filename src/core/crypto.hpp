// Digests used across flows (request hashes, stored verification codes).
#pragma once

#include <string>
#include <string_view>

namespace medflow::crypto {

std::string sha256(std::string_view data);      // raw 32 bytes
std::string sha256_hex(std::string_view data);  // 64 lowercase hex digits

}  // namespace medflow::crypto
