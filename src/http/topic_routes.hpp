// The topic endpoints: produce and read records over HTTP, the same in both bus backends, for
// clients without a Kafka client.
#pragma once

namespace medflow::bus {
class log;
}

namespace medflow::http {
class server;

void add_topic_routes(server& srv, bus::log& bus, int default_partitions);

}  // namespace medflow::http
