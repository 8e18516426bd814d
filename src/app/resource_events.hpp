// The resource events publisher as the flows that change resources use it: built from the
// events.* configuration keys, and the listener that hands the medical events flow's committed
// changes to it inside their transaction.
#pragma once

#include "flows/exams/service.hpp"
#include "flows/medical_events/service.hpp"
#include "flows/resource_events/service.hpp"

#include <memory>

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

}  // namespace medflow::app
