// The topic endpoints: produce and read records over HTTP, the same in both bus backends, for
// clients without a Kafka client.
#pragma once

#include <cstddef>

namespace medflow::bus {
class log;
}

namespace medflow::http {
class server;

// `read_max_bytes`: a read's answer stops before this many bytes of records (after the first
// record, which comes whatever its size), as Kafka's fetch.max.bytes (bus.fetch_max_bytes).
void add_topic_routes(server& srv, bus::log& bus, int default_partitions, size_t read_max_bytes);

}  // namespace medflow::http
