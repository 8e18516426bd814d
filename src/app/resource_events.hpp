// The resource events publisher as the flows that change resources use it: built from the
// events.* configuration keys, and the listener that hands the medical events flow's committed
// changes to it inside their transaction.
#pragma once

#include "flows/medical_events/service.hpp"
#include "flows/resource_events/service.hpp"

#include <memory>

namespace medflow {
class config;
}

namespace medflow::app {

// Loads events.config_file (limits events.config_max_bytes / _depth; every kind of the medical
// events flow must be mapped), checks events.base_url and creates the event topics
// (events.partitions). Throws std::runtime_error with a clear message.
std::unique_ptr<flows::resource_events::service> make_event_publisher(const config& cfg,
                                                                      bus::log& bus);

// The medical events flow's change listener publishing through `events`.
flows::medical_events::change_listener publish_changes(flows::resource_events::service& events);

}  // namespace medflow::app
