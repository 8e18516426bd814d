#!/usr/bin/env python3
"""Strict check of a Prometheus text exposition (format 0.0.4), then the names it must hold.

usage: metrics_check.py METRICS_FILE [--require NAME ...] [--dashboard GRAFANA_JSON]
                        [--rules ALERTS_YML]

Every line must be a HELP, a TYPE or a sample; names and label names as the format allows them;
HELP escapes only backslash and newline, label values backslash, quote and newline; a family's
HELP and TYPE at most once, before its samples, and its samples together; counters end in
_total; histograms have cumulative buckets ending in le="+Inf" equal to _count. Then the
official parser (python3-prometheus-client) must read it too. --require: names (families)
that must be there. --dashboard / --rules: every metric a Grafana dashboard's or an alert
file's expressions query must be there.
"""
import json
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
LABELS = r"\{(?:%s=%s(?:,%s=%s)*)?\}" % (LABEL, LABEL_VALUE, LABEL, LABEL_VALUE)
VALUE = r"(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)(?: -?\d+)?$" % (NAME, LABELS, VALUE))
HELP = re.compile(r"^# HELP (%s) ((?:[^\\\n]|\\\\|\\n)*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
SUFFIXES = ("_bucket", "_sum", "_count")


def fail(msg):
    print("metrics_check: " + msg, file=sys.stderr)
    sys.exit(1)


def family_of(name, types):
    if name in types:
        return name
    for s in SUFFIXES:
        if name.endswith(s) and types.get(name[: -len(s)]) in ("histogram", "summary"):
            return name[: -len(s)]
    return name


def parse_labels(text):
    out = {}
    for m in re.finditer(r"(%s)=(%s)" % (LABEL, LABEL_VALUE), text or ""):
        out[m.group(1)] = m.group(2)
    return out


def strict(text):
    if not text.endswith("\n"):
        fail("the exposition must end with a newline")
    types, helps, seen_samples, closed = {}, set(), set(), set()
    current = None
    hist = {}  # (family, labels without le) -> [(le, count)], _count
    for no, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (no, line)
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind = line[2:6]
            m = (HELP if kind == "HELP" else TYPE).match(line)
            if not m:
                fail("bad %s (HELP escapes only \\\\ and \\n) at %s" % (kind, where))
            name = m.group(1)
            done = helps if kind == "HELP" else types
            if name in done:
                fail("second %s for %s at %s" % (kind, name, where))
            if name in seen_samples:
                fail("%s after samples of %s at %s" % (kind, name, where))
            if kind == "HELP":
                helps.add(name)
                continue
            types[name] = m.group(2)
            if m.group(2) == "counter" and not name.endswith("_total"):
                fail("counter %s does not end in _total" % name)
        elif line.startswith("#") or line == "":
            fail("unexpected line at " + where)
        else:
            m = SAMPLE.match(line)
            if not m:
                fail("bad sample line at " + where)
            fam = family_of(m.group(1), types)
            if fam != current:
                if fam in closed:
                    fail("samples of %s are not together (again at %s)" % (fam, where))
                if current is not None:
                    closed.add(current)
                current = fam
            seen_samples.add(fam)
            labels = parse_labels(m.group(2))
            value = float(m.group(3).replace("Inf", "inf"))
            if types.get(fam) == "histogram":
                key_labels = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                h = hist.setdefault((fam, key_labels), {"buckets": [], "count": None})
                if m.group(1) == fam + "_bucket":
                    if "le" not in labels:
                        fail("bucket without le at " + where)
                    le = float(labels["le"].strip('"').replace("Inf", "inf"))
                    h["buckets"].append((le, value))
                elif m.group(1) == fam + "_count":
                    h["count"] = value
                elif m.group(1) != fam + "_sum":
                    fail("unexpected series of histogram %s at %s" % (fam, where))
    for (fam, labels), h in hist.items():
        bs = h["buckets"]
        if not bs or not math.isinf(bs[-1][0]):
            fail("histogram %s%s has no le=\"+Inf\" bucket last" % (fam, dict(labels)))
        for (le1, c1), (le2, c2) in zip(bs, bs[1:]):
            if not le1 < le2 or c1 > c2:
                fail("histogram %s%s buckets not increasing/cumulative" % (fam, dict(labels)))
        if h["count"] != bs[-1][1]:
            fail("histogram %s%s: _count %s != +Inf bucket %s" % (fam, dict(labels), h["count"], bs[-1][1]))
    for name, t in types.items():
        if name.endswith("_seconds") and t == "histogram" and not name.endswith("_duration_seconds"):
            fail("duration histogram %s is not named *_duration_seconds" % name)
    return types, seen_samples


def queried_metrics(exprs):
    """Metric names in PromQL expressions: identifiers followed by { or [ or space/), not
    functions or keywords."""
    words = set()
    for e in exprs:
        e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)  # label values
        e = re.sub(r"\{[^}]*\}", "{}", e)           # label matchers
        e = re.sub(r"\[[^\]]*\]", "[]", e)          # ranges
        for m in re.finditer(r"(?<![\w:.])(%s)(?!\s*\()" % NAME, e):
            words.add(m.group(1))
    keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "le", "inf", "nan", "Inf", "NaN"}
    out = set()
    for w in words - keywords:
        if w.startswith(("medflow_", "process_")):
            out.add(w)
    return out


def base_name(n, types):
    for s in SUFFIXES:
        if n.endswith(s) and types.get(n[: -len(s)]) == "histogram":
            return n[: -len(s)]
    return n


def main():
    args = sys.argv[1:]
    if not args:
        fail(__doc__)
    text = open(args[0], encoding="utf-8").read()
    types, present = strict(text)
    from prometheus_client.parser import text_string_to_metric_families
    official = {f.name for f in text_string_to_metric_families(text)}
    if not official:
        fail("the official parser found no metric family")
    required, exprs = [], []
    i = 1
    while i < len(args):
        if args[i] == "--require":
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                required.append(args[i])
                i += 1
            continue
        if args[i] == "--dashboard":
            dash = json.load(open(args[i + 1], encoding="utf-8"))
            n = 0
            for p in dash.get("panels", []):
                for t in p.get("targets", []):
                    exprs.append(t["expr"])
                    n += 1
            if n == 0:
                fail("the dashboard has no queries")
        elif args[i] == "--rules":
            for m in re.finditer(r"^\s*expr:\s*(.+)$", open(args[i + 1], encoding="utf-8").read(), re.M):
                exprs.append(m.group(1).strip().strip("'\""))
        i += 2
    missing = [n for n in required if n not in types or n not in present]
    used = sorted(queried_metrics(exprs))
    missing += [n for n in used if base_name(n, types) not in types]
    if missing:
        fail("missing from /metrics: " + ", ".join(missing))
    print("metrics_check: %d families, strict format ok, official parser ok; %d required and %d "
          "queried names present" % (len(types), len(required), len(used)))


if __name__ == "__main__":
    main()
