// The resource events flow's wiring, in one place: the publisher the flows that change
// resources use (built from the events.* keys, handed the medical events flow's committed
// changes inside their transaction), and the subscriptions half (its tables, one supervised
// actor per subscription, /subscriptions).
#pragma once

#include "app/flow.hpp"
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

std::unique_ptr<flow> make_resource_events_flow();

}  // namespace medflow::app
