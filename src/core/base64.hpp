// Base64 (RFC 4648): standard alphabet with padding, and URL-safe without padding (JWT).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace medflow::base64 {

std::string encode(std::string_view bytes);
std::string encode_url(std::string_view bytes);  // '-' '_' and no padding
// Accepts both alphabets, with or without padding; nullopt for anything else.
std::optional<std::string> decode(std::string_view text);
// base64url exactly as JWS writes it (RFC 7515 2, RFC 4648 5): the URL-safe alphabet only, no
// padding, and the unused bits of the last character zero, so every byte string has one
// encoding; nullopt for anything else.
std::optional<std::string> decode_url_strict(std::string_view text);

}  // namespace medflow::base64
