// key_worker: the mailbox of one key (a patient). It handles its records strictly one
// at a time in arrival order: the next starts only when the previous one's completion (after
// its store commit) has arrived. A failing record kills the worker; the sequencer reports it.
#pragma once

#include "actors/protocol.hpp"

#include <deque>
#include <memory>
#include <string>

namespace medflow::actors {

struct key_worker_state {
  static inline const char* name = "key_worker";

  // -- constants -------------------------------------------------------------------------------
  std::string key;
  std::shared_ptr<const record_handlers> handlers;
  caf::actor sequencer;

  // -- member variables --------------------------------------------------------------------------
  std::deque<work_item> queue;  // front is in progress when busy
  bool busy = false;
};

caf::behavior key_worker(caf::stateful_actor<key_worker_state>* self, std::string key,
                         std::shared_ptr<const record_handlers> handlers, caf::actor sequencer);

}  // namespace medflow::actors
