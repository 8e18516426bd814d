// The resource events flow's wiring, in one place: the publisher the flows that change
// resources use (built from the events.* keys, handed the medical events flow's committed
// changes inside their transaction), and the subscriptions half (its tables, one supervised
// actor per subscription, /subscriptions).
#pragma once

#include "app/flow.hpp"
#include "flows/exams/service.hpp"
#include "flows/medical_events/service.hpp"
#include "flows/resource_events/service.hpp"

#include <memory>
#include <string>
#include <vector>

namespace medflow {
class config;
}

namespace medflow::app {

// Every resource kind the flows publish changes of: the medical events flow's and the exams
// flow's ("exam"). The mapping must map each of them.
std::vector<std::string> published_kinds();

// Loads events.config_file (limits events.config_max_bytes / _depth; every published kind
// must be mapped), checks events.base_url and creates the event topics
// (events.partitions). Throws std::runtime_error with a clear message.
std::unique_ptr<flows::resource_events::service> make_event_publisher(const config& cfg,
                                                                      bus::log& bus);

// The medical events flow's change listener publishing through `events`.
flows::medical_events::change_listener publish_changes(flows::resource_events::service& events);

// The exams flow's change listener: an exam (its wire form, kind "exam", the patient's) through
// `events`.
exams::change_listener publish_exam_changes(flows::resource_events::service& events);

std::unique_ptr<flow> make_resource_events_flow();

}  // namespace medflow::app
