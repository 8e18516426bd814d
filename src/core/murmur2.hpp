// The Java Kafka client's default partitioner for keyed records: murmur2 of the key bytes
// (seed 0x9747b28c), made positive with `& 0x7fffffff`, modulo the partition count. Both bus
// backends use it so a key lands on the same partition number whoever writes it.
#pragma once

#include <cstdint>
#include <string_view>

namespace medflow {

int32_t murmur2(std::string_view key);
int32_t kafka_partition(std::string_view key, int32_t partitions);

}  // namespace medflow
