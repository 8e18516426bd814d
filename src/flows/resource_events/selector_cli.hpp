// `medflowd selector '<selector>' '<properties as a JSON object>'`: an operator's check of what
// a subscription's selector says about one event, without starting the daemon.
//
//   $ medflowd selector "eventType = 'created' AND patientReference IS NOT NULL"
//         '{"eventType": "created", "patientReference": "https://patient.local/fhir/Patient/5"}'
//   true
//
// Prints true, false or unknown and exits 0; prints the error (with its position for a
// selector) to `err` and exits 2. JSON strings are String properties, integers long, other
// numbers double, booleans boolean; null or an absent name is NULL. An array or object as a
// property value, a duplicate name, an integer outside long, or JSON that is not one object
// is an error.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string_view>

namespace medflow::flows::resource_events {

// Longest properties JSON accepted (the selector's own limit is compile_limits' default).
inline constexpr std::size_t max_properties_json_bytes = 1024 * 1024;

inline constexpr const char* selector_usage =
    "usage: medflowd selector '<selector>' '<properties as a JSON object>'\n"
    "  prints true, false or unknown (exit 0), or the error (exit 2)\n";

int selector_command(std::string_view selector, std::string_view properties_json, std::ostream& out,
                     std::ostream& err);

}  // namespace medflow::flows::resource_events
