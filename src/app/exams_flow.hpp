// Wires the exams flow (issue 17): its keys and catalog, the patient directory (built in, or
// the external patient manager over the HTTP client), resource events for exam changes, and
// the exam and patient routes.
#pragma once

#include "app/flow.hpp"

#include <memory>

namespace medflow::app {

std::unique_ptr<flow> make_exams_flow();

}  // namespace medflow::app
