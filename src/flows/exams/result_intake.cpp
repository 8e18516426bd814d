#include "flows/exams/result_intake.hpp"

namespace medflow::exams {

folder folder_of(result_outcome o) {
  switch (o) {
    case result_outcome::processed: return folder::processed;
    case result_outcome::stuck: return folder::stuck;
    case result_outcome::denied: return folder::denied;
    case result_outcome::deleted: break;
  }
  return folder::deleted;
}

notification_request notification_for(const result_applied& r) {
  return {r.exam_id, r.patient_id, r.exam_type_name,
          {r.email, r.email_verified, r.cellphone, r.cellphone_verified}};
}

result_listener notify_on_result(std::shared_ptr<notifications> outbox,
                                 std::function<int64_t()> now_ms) {
  return [outbox = std::move(outbox), now_ms = std::move(now_ms)](store::tx& t,
                                                                 const result_applied& r) {
    if (r.outcome != result_outcome::processed || r.repeated || r.exam_id.empty()) return;
    outbox->enqueue_in(t, notification_for(r), now_ms());
  };
}

apply_fn apply_with(service& svc, result_listener on_result) {
  return [&svc, on_result = std::move(on_result)](const std::string& key,
                                                  std::string_view bytes) -> result<folder> {
    auto applied = svc.apply_result_file(key, bytes, on_result);
    if (!applied) return applied.err();
    return folder_of(applied->outcome);
  };
}

}  // namespace medflow::exams
