// selector_bench: JMS selectors as the resource events flow will run them. 1,000 subscriptions
// of realistic shape (eventType, resourceProfile IN, patientReference = / IS NULL / LIKE,
// resourceReference LIKE, context IN) are compiled, then every one is evaluated against every
// event of a set of eHealth-shaped property sets (the eight properties of the IG's examples,
// some without patientReference, as Trifork's events come). Figures: compile time per
// selector, evaluations per second (one thread), and the share of matches.
//
// usage: selector_bench [--selectors N] [--events E] [--seconds S] [--seed X]
#include "flows/resource_events/selector.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace re = medflow::flows::resource_events;

namespace {

struct args {
  int selectors = 1000;
  int events = 256;
  double seconds = 3;
  unsigned seed = 42;
};

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--selectors") {
      a.selectors = std::atoi(v.c_str());
    } else if (k == "--events") {
      a.events = std::atoi(v.c_str());
    } else if (k == "--seconds") {
      a.seconds = std::atof(v.c_str());
    } else if (k == "--seed") {
      a.seed = static_cast<unsigned>(std::atoi(v.c_str()));
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

using steady = std::chrono::steady_clock;
double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

const char* const profiles[] = {
    "ehealth-careplan",         "ehealth-episodeofcare", "ehealth-procedurerequest",
    "ehealth-servicerequest",   "ehealth-task",          "ehealth-questionnaire",
    "ehealth-appointment",      "ehealth-message",       "ehealth-patient",
    "ehealth-documentreference"};
const char* const resource_types[] = {"CarePlan",      "EpisodeOfCare", "ServiceRequest",
                                      "Task",          "Questionnaire", "Appointment",
                                      "Communication", "Patient",       "DocumentReference"};
const char* const event_types[] = {"created", "updated", "deleted"};
const char* const contexts[] = {"status", "measurement-missing", "document-published",
                                "approved-for-sharing"};

template <class T, std::size_t N>
const T& pick(std::mt19937& rng, const T (&items)[N]) {
  return items[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

std::string patient_url(int id) {
  return "https://patient.local.ehealth.sundhed.dk/fhir/Patient/" + std::to_string(id);
}

// One subscription's selector, in one of the shapes a subscriber writes.
std::string make_selector(std::mt19937& rng) {
  std::uniform_int_distribution<int> patient(1, 2000);
  switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
    case 0:
      return std::string("eventType = '") + pick(rng, event_types) + "' AND resourceProfile IN ('" +
             pick(rng, profiles) + "', '" + pick(rng, profiles) + "', '" + pick(rng, profiles) +
             "')";
    case 1:
      return "patientReference = '" + patient_url(patient(rng)) + "'";
    case 2:
      return std::string("resourceProfile = '") + pick(rng, profiles) +
             "' AND (eventType IN ('created', 'updated') OR patientReference IS NULL)";
    case 3:
      return std::string("resourceReference LIKE '%/") + pick(rng, resource_types) +
             "/%' AND eventType <> 'deleted'";
    case 4:
      return "patientReference LIKE 'https://patient.%/Patient/" + std::to_string(patient(rng)) +
             "' AND messageType = 'EHealthSimpleEvent'";
    default:
      return std::string("context IN ('") + pick(rng, contexts) + "', '" + pick(rng, contexts) +
             "') AND resourceProfile LIKE 'ehealth-care%' AND patientReference IS NOT NULL";
  }
}

// An event's properties as a record carries them: a short list of (name, value) headers.
using event = std::vector<std::pair<std::string, std::string>>;

event make_event(std::mt19937& rng) {
  std::uniform_int_distribution<int> patient(1, 2000), resource(1, 100000), coin(0, 3);
  std::size_t type = std::uniform_int_distribution<std::size_t>(0, 8)(rng);
  std::string profile = profiles[type];
  event e = {
      {"messageType", coin(rng) == 0 ? "EHealthContextEvent" : "EHealthSimpleEvent"},
      {"messageVersion", "1.0"},
      {"eventType", pick(rng, event_types)},
      {"destination", "topic://" + profile},
      {"resourceReference", "https://careplan.local.ehealth.sundhed.dk/fhir/" +
                                std::string(resource_types[type]) + "/" +
                                std::to_string(resource(rng))},
      {"resourceProfile", profile},
  };
  if (coin(rng) != 0) {  // Trifork's events carry neither patientReference nor messageClass
    e.emplace_back("patientReference", patient_url(patient(rng)));
    e.emplace_back("messageClass", "com.systematic.ehealth.event.event.EHealthSimpleEvent");
  }
  if (e[0].second == "EHealthContextEvent") e.emplace_back("context", pick(rng, contexts));
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  args a = parse(argc, argv);
  std::mt19937 rng(a.seed);
  std::vector<std::string> texts;
  for (int i = 0; i < a.selectors; ++i) texts.push_back(make_selector(rng));
  std::vector<event> events;
  for (int i = 0; i < a.events; ++i) events.push_back(make_event(rng));

  // Compile: every selector, again and again for at least a second.
  std::vector<re::selector> selectors;
  long compiled = 0;
  auto start = steady::now();
  do {
    selectors.clear();
    for (const auto& t : texts) {
      auto r = re::compile(t);
      if (!r) {
        std::fprintf(stderr, "selector_bench: %s: %s\n", t.c_str(), r.err().message.c_str());
        return 1;
      }
      selectors.push_back(std::move(r).value());
      ++compiled;
    }
  } while (seconds_since(start) < 1);
  double compile_s = seconds_since(start);

  // Evaluate: each event against every subscription, rounds over all events until the time is
  // up.
  long evaluations = 0, matches = 0;
  start = steady::now();
  do {
    for (const auto& e : events) {
      auto lookup = [&e](std::string_view name) {
        for (const auto& [k, v] : e) {
          if (k == name) return re::property_value::string(v);
        }
        return re::property_value::null();
      };
      for (const auto& s : selectors) matches += s.matches(lookup);
      evaluations += static_cast<long>(selectors.size());
    }
  } while (seconds_since(start) < a.seconds);
  double eval_s = seconds_since(start);

  std::printf("selectors: %d, events: %d\n", a.selectors, a.events);
  std::printf("compile: %.2f us per selector (%ld compiled in %.2f s)\n",
              compile_s * 1e6 / static_cast<double>(compiled), compiled, compile_s);
  std::printf("evaluate: %.0f evaluations/s, %.1f ns each (%ld in %.2f s, one thread)\n",
              static_cast<double>(evaluations) / eval_s,
              eval_s * 1e9 / static_cast<double>(evaluations), evaluations, eval_s);
  std::printf("per event: %.1f us for all %d subscriptions; matches: %.2f%%\n",
              eval_s * 1e6 / (static_cast<double>(evaluations) / a.selectors), a.selectors,
              100.0 * static_cast<double>(matches) / static_cast<double>(evaluations));
  return 0;
}
