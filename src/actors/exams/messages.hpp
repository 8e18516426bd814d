// The exams family's messages: result files between the results scanner and its workers, and
// the notification sender's own wake-ups. The chains are drawn in actors/protocol.hpp.
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
