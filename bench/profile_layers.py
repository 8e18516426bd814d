#!/usr/bin/env python3
"""Sums `perf report --no-children --sort dso,symbol -g none --stdio` self time by layer.

Reads the report on stdin; prints one line per layer, largest first. A sample belongs to the
first rule below that matches its symbol (or, for no rule, its shared object)."""
import re
import sys

RULES = [  # (layer, regex on "dso symbol")
    ("kernel (syscalls, network, scheduler, fs)", r"\[kernel|\[k\]"),
    ("SQLite", r"libsqlite3|sqlite3"),
    ("JSON schema validation", r"json_schema"),
    ("JSON parse/serialise (nlohmann)", r"nlohmann|parse_json|json_sax|lexer<|serializer<"),
    ("HTTP framing (Beast) and server loop", r"boost::beast|medflow::net::|http1|basic_parser"),
    ("HTTP routes and translation", r"medflow::http::"),
    ("store layer and writer", r"medflow::store::"),
    ("bus (embedded log, Kafka)", r"medflow::bus::|librdkafka"),
    ("actors (CAF)", r"caf::|libcaf"),
    ("flows (domain logic)", r"medflow::(flows|hri|me|medical_events|exams|aggregation|resource_events)"),
    ("allocation (malloc/free/new)", r"malloc|free|_int_|operator new|operator delete|cfree|tcache"),
    ("memory copy/compare (libc)", r"memcpy|memmove|memset|memcmp|strlen|__memc|__mems|__strlen"),
    ("locks and threads (libc)", r"pthread|futex|__lll|mutex"),
    ("C++ standard library", r"libstdc\+\+|std::"),
    ("libc other", r"libc\.so|libc-"),
    ("crypto (OpenSSL)", r"libcrypto|libssl"),
]

totals = {}
unmatched = {}
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
    key = f"{dso} {'[k]' if kind == 'k' else ''} {sym}"
    for layer, rx in RULES:
        if re.search(rx, key):
            totals[layer] = totals.get(layer, 0.0) + pct
            break
    else:
        name = "other: " + dso
        totals[name] = totals.get(name, 0.0) + pct
for layer, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"{pct:6.2f}%  {layer}")
