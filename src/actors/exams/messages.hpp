// The exams family's messages: result files between the results scanner and its workers, and
// the notification sender's own wake-ups. Its chains (to be drawn in actors/protocol.hpp with
// the other flows'):
//   inbox_watch thread (inotify / S3 polling) ──(wake)──▶ results_scanner ──(rfile)──▶
//   result_worker (one file at a time: read, service.apply_result_file, move) ──(rfile_done)──▶
//   results_scanner (the next file to that worker; the next page when its queue runs dry)
//   store writer (after the commit that added a notification) ──(wake)──▶ notification_sender
//   notification_sender ──SMTP (blocking) / http_client ──(sms_done)──▶ notification_sender
#pragma once

#include "actors/protocol.hpp"
#include "flows/exams/inbox.hpp"
#include "flows/exams/results.hpp"

#include <caf/all.hpp>

namespace medflow::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

// results_scanner -> result_worker: (result_file_atom, inbox_file) handle this file.
using result_file_atom = caf::atom_constant<caf::atom("rfile")>;
// result_worker -> results_scanner: (result_done_atom, inbox_file, file_outcome) it is handled.
using result_done_atom = caf::atom_constant<caf::atom("rfile_done")>;
// http client -> notification_sender: (sms_done_atom, row id, error text (empty: sent),
// permanent) the SMS gateway answered or failed.
using sms_done_atom = caf::atom_constant<caf::atom("sms_done")>;

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::exams::inbox_file)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::exams::file_outcome)
