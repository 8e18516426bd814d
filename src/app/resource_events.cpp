#include "app/resource_events.hpp"

#include "core/config.hpp"

#include <stdexcept>

namespace medflow::app {

namespace me = flows::medical_events;
namespace re = flows::resource_events;

std::vector<std::string> published_kinds() {
  auto kinds = me::kind_names();
  kinds.push_back(exams::exam_kind);
  return kinds;
}

std::unique_ptr<re::service> make_event_publisher(const config& cfg, bus::log& bus) {
  re::file_limits limits;
  limits.max_bytes = static_cast<uint64_t>(cfg.integer("events.config_max_bytes"));
  limits.max_depth = static_cast<int>(cfg.integer("events.config_max_depth"));
  re::settings s;
  s.base_url = cfg.string("events.base_url");
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  // References are absolute URLs (Part B.3).
  auto scheme_end = s.base_url.find("://");
  if (scheme_end == std::string::npos || scheme_end + 3 >= s.base_url.size() ||
      (s.base_url.compare(0, scheme_end, "http") != 0 &&
       s.base_url.compare(0, scheme_end, "https") != 0))
    throw std::runtime_error("invalid value for events.base_url: expected an absolute http:// "
                             "or https:// URL, got \"" + cfg.string("events.base_url") + "\"");
  auto events = std::make_unique<re::service>(
      bus, re::load_mapping(cfg.string("events.config_file"), published_kinds(), limits), s);
  events->create_topics(static_cast<int32_t>(cfg.integer("events.partitions")));
  return events;
}

me::change_listener publish_changes(re::service& events) {
  return [&events](store::tx& t, const me::committed_change& c) {
    re::change rc;
    rc.kind = me::kind_name(c.change.k);
    rc.id = c.change.id;
    rc.patient_id = c.change.patient_id;
    switch (c.change.change) {
      case me::change_kind::created: rc.type = re::change_type::created; break;
      case me::change_kind::updated: rc.type = re::change_type::updated; break;
      case me::change_kind::deleted: rc.type = re::change_type::deleted; break;
    }
    rc.version_before = c.version_before;
    rc.version_after = c.version_after;
    rc.before = c.before;
    rc.after = c.after;
    events.publish_in(t, rc);
  };
}

exams::change_listener publish_exam_changes(re::service& events) {
  return [&events](store::tx& t, const exams::exam_change& c) {
    nlohmann::json before = c.before ? to_json(*c.before) : nlohmann::json();
    nlohmann::json after = to_json(c.after);
    re::change rc;
    rc.kind = exams::exam_kind;
    rc.id = c.after.id;
    rc.patient_id = c.after.patient_id;
    rc.type = c.before ? re::change_type::updated : re::change_type::created;
    rc.version_before = c.before ? c.before->version : 0;
    rc.version_after = c.after.version;
    rc.before = c.before ? &before : nullptr;
    rc.after = &after;
    events.publish_in(t, rc);
  };
}

}  // namespace medflow::app
