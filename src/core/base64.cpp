#include "core/base64.hpp"

#include <array>

namespace medflow::base64 {

namespace {

const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode_with(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

}  // namespace

std::string encode(std::string_view bytes) { return encode_with(bytes, std_alphabet, true); }
std::string encode_url(std::string_view bytes) { return encode_with(bytes, url_alphabet, false); }

namespace {

// Decodes unpadded `text` by `table` (6-bit value per character, -1 for none); nullopt for a
// character outside it or a length no encoding has. `leftover` gets the bits after the last
// whole byte (2 or 4 of them, or none).
std::optional<std::string> decode_with(std::string_view text, const std::array<int, 256>& table,
                                       unsigned& leftover) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = table[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  leftover = acc & ((1u << bits) - 1);
  return out;
}

}  // namespace

std::optional<std::string> decode(std::string_view text) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) {
      t[static_cast<unsigned char>(std_alphabet[i])] = i;
      t[static_cast<unsigned char>(url_alphabet[i])] = i;
    }
    return t;
  }();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  unsigned leftover = 0;
  return decode_with(text, table, leftover);
}

std::optional<std::string> decode_url_strict(std::string_view text) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(url_alphabet[i])] = i;
    return t;
  }();
  unsigned leftover = 0;
  auto out = decode_with(text, table, leftover);
  // 2 or 4 bits are left over after the last whole byte: they must be zero.
  if (out && leftover != 0) return std::nullopt;
  return out;
}

}  // namespace medflow::base64
