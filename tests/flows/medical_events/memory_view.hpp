// An in-memory medical_events::view for the pure handler tests, plus a helper that applies a
// handler's writes to it (what the job worker does in SQLite).
#pragma once

#include "flows/medical_events/domain.hpp"

#include <map>

namespace medflow::test {

namespace me = medflow::flows::medical_events;

class memory_view : public me::view {
 public:
  std::optional<me::json> get(me::kind k, const std::string& patient_id,
                              const std::string& id) override {
    auto it = entities_.find({k, id});
    if (it == entities_.end() || it->second.first != patient_id) return std::nullopt;
    return it->second.second;
  }
  std::vector<me::json> list(me::kind k, const std::string& patient_id) override {
    std::vector<me::json> out;
    for (auto& key : order_)
      if (key.first == k) {
        auto& e = entities_.at(key);
        if (e.first == patient_id) out.push_back(e.second);
      }
    return out;
  }
  std::optional<std::pair<std::string, me::json>> find(me::kind k, const std::string& id) override {
    auto it = entities_.find({k, id});
    if (it == entities_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<me::person> get_person(const std::string& id) override { return opt(persons, id); }
  std::optional<me::legal_entity> get_legal_entity(const std::string& id) override {
    return opt(legal_entities, id);
  }
  std::optional<me::employee> get_employee(const std::string& id) override {
    return opt(employees, id);
  }
  std::vector<me::employee> employees_of_user(const std::string& user_id) override {
    std::vector<me::employee> out;
    for (auto& [id, e] : employees)
      if (e.user_id == user_id) out.push_back(e);
    return out;
  }
  int64_t next_number(const std::string& sequence) override { return ++sequences[sequence]; }

  // -- test setup ------------------------------------------------------------------------------
  void put(me::kind k, const std::string& patient_id, const me::json& doc) {
    std::pair<me::kind, std::string> key{k, doc.at("id").get<std::string>()};
    if (!entities_.count(key)) order_.push_back(key);
    entities_[key] = {patient_id, doc};
  }
  // Applies a handler's writes, as the worker does.
  void apply(const me::effects& e) {
    for (auto& w : e.writes) put(w.k, w.patient_id, w.doc);
  }
  void add_person(const std::string& id, const std::string& status = "active",
                  me::json doc = me::json::object()) {
    persons[id] = {id, status, std::move(doc)};
  }
  void add_legal_entity(const std::string& id, const std::string& status = "ACTIVE") {
    legal_entities[id] = {id, status, me::json::object()};
  }
  void add_employee(const std::string& id, const std::string& legal_entity_id,
                    const std::string& user_id, const std::string& type = "DOCTOR",
                    const std::string& status = "APPROVED", const std::string& tax_id = "") {
    employees[id] = {id, legal_entity_id, type, status, user_id, tax_id, me::json::object()};
  }

  std::map<std::string, me::person> persons;
  std::map<std::string, me::legal_entity> legal_entities;
  std::map<std::string, me::employee> employees;
  std::map<std::string, int64_t> sequences;

 private:
  template <class T>
  static std::optional<T> opt(const std::map<std::string, T>& m, const std::string& id) {
    auto it = m.find(id);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::pair<me::kind, std::string>, std::pair<std::string, me::json>> entities_;
  std::vector<std::pair<me::kind, std::string>> order_;
};

}  // namespace medflow::test
