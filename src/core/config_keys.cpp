// The one list of configuration keys. config/medflow.json is generated from it
// (`medflowd --print-default-config`) and a test keeps the two equal. A key marked secret (the
// last field) may be given as <key>_file instead, and is redacted by --print-config.
#include "core/config.hpp"

namespace medflow {

namespace {
using k = config_key::kind;
}

const std::vector<config_key>& config_keys() {
  static const std::vector<config_key> keys = {
      // -- logging ------------------------------------------------------------------------
      {"log.level", k::string, "info", "log threshold: debug, info, warn, error or off", {}, {},
       {"debug", "info", "warn", "error", "off"}},
      {"log.format", k::string, "text",
       "log line format on stderr: text (time level [component] message key=value...), json "
       "(one object a line: time, level, component, message and the line's request_id, job_id, "
       "batch_id or correlation_id) or journal (<N> syslog priority prefixes, for systemd's "
       "journal)", {}, {}, {"text", "json", "journal"}},
      {"log.access", k::boolean, false,
       "one info line per HTTP request (component access): method, path (the route's template, "
       "never the path as sent: paths hold patient ids), status, bytes of the body, duration in "
       "ms and the request id"},

      // -- running as a service ------------------------------------------------------------------
      {"shutdown.timeout_ms", k::integer, 20000,
       "SIGTERM to exit at most: /readyz turns 503, HTTP drains (in-flight answers finish, at "
       "most half of it), then the actors; past it medflowd exits anyway (status 1) with a log "
       "line. Below systemd's 90 s and Kubernetes' 30 s default grace", 100, 3600000},
      {"shutdown.unready_ms", k::integer, 0,
       "after SIGTERM, keep serving this long with /readyz answering 503 before HTTP drains, so "
       "load balancers stop sending first (e.g. 5000 behind a Kubernetes Service); part of "
       "shutdown.timeout_ms", 0, 3600000},

      // -- JSON from outside --------------------------------------------------------------------
      {"json.max_depth", k::integer, 256,
       "deepest nesting of arrays and objects accepted in any JSON medflowd reads (bodies, "
       "records, tokens, sources' answers, definition files); deeper gets 400 naming the limit",
       1, 10000},

      // -- HTTP ---------------------------------------------------------------------------
      {"http.host", k::string, "127.0.0.1", "address the HTTP server listens on"},
      {"http.port", k::integer, 8080, "HTTP port (0 picks a free port, printed at start-up)", 0, 65535},
      {"http.io_threads", k::integer, 1,
       "threads that own the connections (accept, read, parse, write); a request waiting for "
       "its answer holds none", 1, 64},
      {"http.threads", k::integer, 256,
       "most handlers that may block (disk, a network call) running at once; started as needed",
       1, 4096},
      {"http.max_body_bytes", k::integer, 1048576,
       "largest request body accepted; bigger ones get 413", 1024, 1073741824},
      {"http.keep_alive_max_count", k::integer, 100000,
       "requests served on one keep-alive connection before it is closed", 1, 100000000},
      {"http.keep_alive_timeout_s", k::integer, 30,
       "seconds an idle keep-alive connection is kept open", 1, 3600},
      {"http.send_timeout_ms", k::integer, 30000,
       "a connection whose answer makes no progress (the client reads nothing) for this long is "
       "reset", 100, 3600000},
      {"http.max_connections", k::integer, 10000,
       "most client connections open at once (lowered at start to fit the descriptor limit, "
       "which medflowd raises to its hard limit); over it a new connection gets 503 and is "
       "closed", 16, 1000000},
      {"http.reserved_connections", k::integer, 32,
       "connections beyond http.max_connections kept for probes: each may ask one GET of "
       "/healthz, /readyz or /metrics, answered as usual; any other request on them gets 503",
       1, 10000},
      {"http.max_inflight_body_bytes", k::integer, 67108864,
       "bytes of request bodies being received or handled at once, over all connections; a "
       "request whose body does not fit gets 503 with Retry-After", 1024, 68719476736.0},
      {"http.max_streams", k::integer, 1000,
       "streamed answers (e.g. GET /subscriptions/{id}/stream) open at once; beyond it a new "
       "one gets 503 with Retry-After", 1, 1000000},
      {"http.stream_buffer_bytes", k::integer, 262144,
       "bytes of a streamed answer held for a client that reads slower than they come; beyond "
       "it the producer waits (and a client that reads nothing for http.send_timeout_ms is "
       "cut off)", 1024, 1073741824},

      // -- store (SQLite or PostgreSQL) ---------------------------------------------------------
      {"store.backend", k::string, "sqlite",
       "where the state lives: sqlite (one file in store.data_dir, one medflowd) or postgres "
       "(store.postgres.*, shared by several medflowd; needs bus.backend=kafka)",
       {}, {}, {"sqlite", "postgres"}},
      {"store.postgres.url", k::string, "",
       "postgres: libpq connection URI or key=value string (postgresql://user@host:5432/db); "
       "never logged. Prefer store.postgres.url_file for one with a password",
       {}, {}, {}, {}, true},
      {"store.postgres.pool_size", k::integer, 16,
       "postgres: most read connections open at once (the writer has one more); a read beyond "
       "them waits up to store.postgres.statement_timeout_ms", 1, 1024},
      {"store.postgres.connect_timeout_s", k::integer, 10,
       "postgres: how long connecting to the server may take", 1, 3600},
      {"store.postgres.statement_timeout_ms", k::integer, 30000,
       "postgres: the longest one statement may run (the session's statement_timeout; a server "
       "that stops answering fails the connection after this plus 10 s)", 100, 3600000},
      {"store.lease_ms", k::integer, 10000,
       "postgres (several instances on one store): how long an instance holds the lease of "
       "work that runs on one instance at a time (the Kafka outbox relay, the exams results "
       "scanner, the medical events maintenance, the webhook subscriptions); it renews it "
       "every third of this, and another instance takes the work over this long after the "
       "holder died",
       1000, 3600000},
      {"store.data_dir", k::string, "./var", "directory of the SQLite database (created if missing)"},
      {"store.synchronous", k::string, "FULL",
       "SQLite synchronous mode in WAL: FULL survives power loss, NORMAL only process crashes",
       {}, {}, {"OFF", "NORMAL", "FULL"}},
      {"store.busy_timeout_ms", k::integer, 5000, "how long a connection waits for a lock", 0,
       600000},
      {"store.group_commit_max", k::integer, 1000,
       "most units of work committed together in one transaction", 1, 100000},
      {"store.readers", k::integer, 32, "most pooled read connections", 1, 1024},
      {"store.startup_check", k::string, "quick",
       "check of the database file at start, before anything is written: quick (PRAGMA "
       "quick_check), full (PRAGMA integrity_check, slower) or off; a damaged file stops "
       "start-up (README: storage honesty)",
       {}, {}, {"off", "quick", "full"}},
      {"store.identity_marker", k::boolean, true,
       "keep the database's identity in medflow.db.identity beside it and refuse to start "
       "on an empty or another database while the marker names the one that was there"},
      {"store.disk_full_probe_ms", k::integer, 1000,
       "after a write failed on a full disk (not ready, writes 507): how often to check "
       "whether space returned", 10, 600000},
      {"store.disk_full_probe_bytes", k::integer, 8388608,
       "space that must be allocatable beside the database before writes are taken again",
       0, 1073741824},

      // -- bus (topic log) --------------------------------------------------------------------
      {"bus.backend", k::string, "embedded",
       "topic log backend: embedded (SQLite, no server) or kafka", {}, {},
       {"embedded", "kafka"}},
      {"bus.default_partitions", k::integer, 1,
       "partitions of a topic created without an explicit count", 1, 10000},
      {"bus.fetch_max", k::integer, 500, "most records a consumer takes in one batch", 1, 100000},
      {"bus.fetch_max_bytes", k::integer, 1048576,
       "GET /topics/{t}/partitions/{p}/records: an answer stops before this many bytes of "
       "records (key, value, headers), after the first record, which comes whatever its size",
       1024, 1073741824},
      {"bus.commit_interval_ms", k::integer, 100,
       "least time between two offset commits of one consumer (0: after every batch)", 0, 60000},
      {"bus.release_timeout_ms", k::integer, 20000,
       "how long a revoked partition's consumer may take to finish and commit what it holds "
       "before it is stopped and the partition handed over",
       100, 600000},
      {"bus.embedded.retention_hours", k::integer, 168,
       "embedded backend: records older than this are deleted (0 keeps everything)", 0, 876000},
      {"bus.kafka.brokers", k::string, "", "Kafka bootstrap servers (host:port,...)"},
      {"bus.kafka.client_id", k::string, "medflowd", "Kafka client.id"},
      {"bus.kafka.group_id", k::string, "medflowd",
       "Kafka consumer group of the reader consumers behind fetch() (they never join it); the "
       "medical events consumers join their own groups (medical_event_group, "
       "person_consumer_group)"},
      {"bus.kafka.session_timeout_ms", k::integer, 10000,
       "Kafka session.timeout.ms of the flows' group members: how soon the partitions of an "
       "instance that died move to the others",
       1000, 300000},
      {"bus.kafka.linger_ms", k::integer, 5, "producer linger.ms", 0, 10000},
      {"bus.kafka.timeout_ms", k::integer, 10000,
       "how long a Kafka produce, fetch or metadata call may take", 100, 600000},
      {"bus.kafka.properties", k::object, nlohmann::json::object(),
       "librdkafka properties (name: value) given to every Kafka client medflowd creates "
       "(producer, consumers, admin), e.g. security.protocol, ssl.*, sasl.*, client.rack; "
       "<name>_file reads a value from a file (secrets); an unknown or invalid one stops "
       "start-up. Not those medflowd sets itself (bootstrap.servers, client.id, group.id, ...)"},
      {"bus.kafka.relay_batch", k::integer, 1000,
       "most outbox rows the relay forwards to Kafka per round", 1, 100000},
      {"bus.kafka.relay_poll_ms", k::integer, 200,
       "postgres: how often the outbox relay holding the lease looks for rows the other "
       "instances committed (its own commits wake it at once; on SQLite it looks every second)",
       10, 60000},

      // -- actors -----------------------------------------------------------------------------
      {"actors.threads", k::integer, 0, "CAF scheduler threads (0: one per core, at least 2)", 0,
       256},
      {"actors.scheduler", k::string, "stealing",
       "CAF scheduler policy: stealing (per-thread queues, a short poll before sleeping) or "
       "sharing (one queue, idle threads sleep at once)", {}, {},
       {"sharing", "stealing"}},
      {"actors.clock_batch", k::boolean, true,
       "run CAF's timer thread under SCHED_BATCH: woken at every actor's end, it then no longer "
       "preempts the thread that woke it"},
      {"supervisor.backoff_initial_ms", k::integer, 100,
       "first restart delay of a failed actor; doubles per restart", 1, 3600000},
      {"supervisor.backoff_max_ms", k::integer, 10000, "cap of the restart delay", 1, 3600000},
      {"supervisor.max_restarts", k::integer, 10,
       "restarts within supervisor.window_ms after which the daemon reports not ready", 1,
       1000000},
      {"supervisor.window_ms", k::integer, 60000, "window in which restarts are counted", 1,
       86400000},
      {"sequencer.max_keys", k::integer, 10000,
       "most live per-key actors of one sequencer; idle ones are reclaimed first", 1, 10000000},
      {"sequencer.idle_ms", k::integer, 10000, "an idle per-key actor is reclaimed after this", 1,
       86400000},

      // -- medical events flow --------------------------------------------------------------------
      {"medical_events.enabled", k::boolean, true, "run the medical events flow (/api)"},
      {"medical_events.partitions", k::integer, 8,
       "partitions of topic medical_events (key = patient id)", 1, 1024},
      {"medical_events.max_attempts", k::integer, 3,
       "failed attempts after which a job ends failed_with_error and is dead-lettered", 1, 100},
      {"medical_events.job_eta_ms", k::integer, 600000,
       "the eta a new job announces (the reference meant 10 minutes)", 0, 86400000},
      {"medical_events.job_location", k::boolean, false,
       "GET /api/jobs/:id of a processed job: false answers 303 with its links and no Location "
       "header, as eHealth does; true adds Location (the first link) and answers 200 when there "
       "is no link"},
      {"medical_events.inline_jobs", k::boolean, true,
       "a job whose patient has no job waiting is processed in the transaction that accepts it "
       "(its 202 says processed or failed; no message on the topic), else it queues on the "
       "topic behind the patient's earlier jobs; on PostgreSQL every job queues (several "
       "instances share the jobs)"},
      {"medical_events.job_ttl_days", k::integer, 7,
       "finished jobs older than this are deleted (pending ones never)", 1, 3650},
      {"medical_events.approval_ttl_hours", k::integer, 12,
       "approvals still new after this are deleted", 1, 87600},
      {"medical_events.maintenance_interval_ms", k::integer, 3600000,
       "how often service request expiry and the TTL cleanups run", 1000, 86400000},
      {"medical_events.person_events_partitions", k::integer, 1,
       "partitions of topic person_events (registry feed)", 1, 1024},

      // -- resource events (eHealth event model) -------------------------------------------------
      {"events.enabled", k::boolean, true,
       "publish every committed resource change (medical events flow) as eHealth events, in "
       "the change's own transaction"},
      {"events.config_file", k::string, "",
       "mapping of resource kinds to eHealth profiles, elements and contexts (topics); empty: "
       "config/events.json as shipped (built into medflowd)"},
      {"events.base_url", k::string, "http://127.0.0.1:8080/fhir",
       "absolute base of resourceReference, patientReference and references: "
       "<base_url>/<ResourceType>/<id>"},
      {"events.partitions", k::integer, 1, "partitions of each event topic", 1, 1024},
      {"events.config_max_bytes", k::integer, 1048576,
       "largest events.config_file accepted (start-up fails above it)", 1024, 67108864},
      {"events.config_max_depth", k::integer, 32,
       "deepest JSON nesting accepted in events.config_file", 4, 1000},

      // -- batches flow (HRI) --------------------------------------------------------------------
      {"hri.enabled", k::boolean, true, "run the batches flow (/hri)"},
      {"hri.validation.enabled", k::boolean, true,
       "validate records of .in topics into .out / .invalid (HRI's validation flag)"},
      {"hri.completion_delay_ms", k::integer, 300000,
       "a batch with all its records completes this long after sendComplete", 0, 86400000},
      {"hri.stuck_timeout_ms", k::integer, 0,
       "a sendCompleted batch still missing records after this fails (0: waits forever)", 0,
       31536000000},
      {"hri.batch_partitions", k::integer, 8,
       "Kafka with PostgreSQL (several instances): partitions of hri.batch_records, the "
       "internal topic that brings a batch's "
       "records and actions to the one instance owning the batch (the same on every instance; "
       "fixed once the topic exists)",
       1, 10000},
      {"hri.action_timeout_ms", k::integer, 10000,
       "Kafka with PostgreSQL: how long an instance waits for the owner of a batch to apply an "
       "action it "
       "received (sendComplete, terminate, processingComplete, fail) before it answers 504 "
       "(below the routes' own 30 s limit)",
       100, 25000},
      {"hri.streams_refresh_ms", k::integer, 5000,
       "Kafka with PostgreSQL: how often an instance reads the streams of the shared store, to "
       "consume the .in of a stream created through another instance and leave a deleted one",
       100, 3600000},
      {"hri.adopt_existing_topics", k::boolean, false,
       "creating a stream whose topics already exist (same partitions) registers it instead of 409"},
      {"hri.topic_grants", k::string, "",
       "topics a tenant's batches may name beyond its own namespace ingest.<tenant>.*: "
       "<tenant>:<topic> pairs, comma separated (any other topic: 403)"},
      {"hri.auth.disabled", k::boolean, false,
       "development only: accept /hri requests without a token (integrator NoAuthUnkIntegrator)"},
      {"hri.auth.hs256_secret", k::string, "", "secret of HS256 tokens (empty: HS256 refused)",
       {}, {}, {}, {}, true},
      {"hri.auth.public_keys_file", k::string, "",
       "PEM public keys or a JWKS file for RS256 / ES256 tokens"},
      {"hri.auth.issuer", k::string, "", "required iss of tokens (empty: not checked)"},
      {"hri.auth.audience", k::string, "", "required aud of tokens (empty: not checked)"},
      {"hri.auth.clock_skew_s", k::integer, 60,
       "seconds a token's exp, nbf and iat may be off from medflowd's clock", 0, 3600},

      // -- resource events: subscriptions --------------------------------------------------------
      {"subscriptions.enabled", k::boolean, true, "serve /subscriptions (resource events)"},
      {"subscriptions.max_count", k::integer, 10000, "most subscriptions stored (409 above)", 1,
       1000000},
      {"subscriptions.max_selector_bytes", k::integer, 65536,
       "longest selector text of a subscription (400 above)", 1, 1048576},
      {"subscriptions.max_cursor_bytes", k::integer, 65536,
       "longest cursor accepted by /subscriptions/{id}/ack and as a stream's Last-Event-ID "
       "(400 above)", 16, 1048576},
      {"subscriptions.pull.max_events", k::integer, 1000,
       "highest ?max= of GET /subscriptions/{id}/events (400 above)", 1, 100000},
      {"subscriptions.read_cache_records", k::integer, 1024,
       "recent records kept per partition for all the subscriptions reading it (0: none)", 0,
       1000000},
      {"subscriptions.pull.max_wait_ms", k::integer, 30000,
       "highest ?wait_ms= of GET /subscriptions/{id}/events: how long a pull waits for events "
       "(400 above)", 0, 300000},
      {"subscriptions.stream.heartbeat_s", k::integer, 15,
       "GET /subscriptions/{id}/stream sends a comment (\": keep-alive\") after this many seconds "
       "without an event, so that proxies keep the stream open", 1, 3600},
      {"subscriptions.pull.max_waiting", k::integer, 64,
       "requests that may wait on one subscription at once (429 above)", 1, 100000},
      {"subscriptions.delivery_threads", k::integer, 1,
       "threads (SCHED_BATCH) that read, select and render the pulled events, off the actors' "
       "scheduler", 1, 64},
      {"subscriptions.webhook.timeout_ms", k::integer, 10000,
       "one webhook call (connect, send, answer); longer counts as a failure", 100, 600000},
      {"subscriptions.webhook.backoff_initial_ms", k::integer, 500,
       "delay before the first retry of a failed webhook call; doubles per failure", 1, 3600000},
      {"subscriptions.webhook.backoff_max_ms", k::integer, 30000,
       "longest delay between retries of a webhook call", 1, 3600000},
      {"subscriptions.webhook.max_attempts", k::integer, 5,
       "failed webhook calls of one event after which it goes to subscriptions.dead_letter",
       1, 1000},
      {"subscriptions.webhook.max_response_bytes", k::integer, 65536,
       "largest webhook answer body read (a larger one fails the call)", 1024, 16777216},

      // -- exams flow (ZMED) -----------------------------------------------------------------------
      {"exams.enabled", k::boolean, true,
       "run the exams flow (/exam, /exams, /patients, /document/find)"},
      {"exams.catalog_file", k::string, "",
       "exam type catalog (code, name, result_validity_days; empty: the built-in config/exams.json)"},
      {"exams.crypto_key", k::string, "",
       "KEY_CRYPTO: 64 hex digits, the AES-256-GCM key sealing patients' personal data (empty: "
       "a generated development key kept in <store.data_dir>/exams_keys.json)", {}, {}, {},
       {"KEY_CRYPTO"}, true},
      {"exams.jwt_key", k::string, "",
       "ZMED_JWT_KEY: HS256 key of exam tokens (empty: a generated development key, as above)",
       {}, {}, {}, {"ZMED_JWT_KEY"}, true},
      {"exams.result_token_key", k::string, "",
       "HS256 key of result tokens, shared with the exam execution team (empty: a generated "
       "development key, as above)", {}, {}, {}, {}, true},
      {"exams.exam_token_ttl_s", k::integer, 2592000,
       "lifetime (exp - iat) of the exam tokens /exam/start issues", 60, 315360000},
      {"exams.token_clock_skew_s", k::integer, 60,
       "seconds an exam or result token's exp and iat may be off from medflowd's clock", 0, 3600},
      {"exams.max_result_bytes", k::integer, 16777216,
       "largest result file applied (a larger one is stuck)", 1024, 1073741824},
      {"exams.patient_manager_host", k::string, "",
       "ZMED_PATIENT_MANAGER_HOST: base URL of an external patient manager (POST "
       "<host>/document/find); empty: the built-in patients", {}, {}, {},
       {"ZMED_PATIENT_MANAGER_HOST"}},
      {"exams.patient_manager_timeout_ms", k::integer, 8000,
       "one call to the external patient manager (502 when it passes)", 1, 600000},
      {"exams.max_exams_listed", k::integer, 10000,
       "most exams /exams/info answers for one patient (oldest first)", 1, 1000000},

      // -- aggregation flow (AgP) ------------------------------------------------------------------
      {"aggregation.enabled", k::boolean, true, "run the aggregation flow (/aggregation)"},
      {"aggregation.services_dir", k::string, "config/aggregation",
       "directory of the aggregating service definitions (*.json except tak.json)"},
      {"aggregation.tak_file", k::string, "config/aggregation/tak.json",
       "permissions (consumer, contract, logical address) and routes (logical address -> URL)"},
      {"aggregation.own_logical_address", k::string, "5565594230",
       "this platform's logical address: engagements pointing here are skipped (recursion)"},
      {"aggregation.vp_instance_id", k::string, "medflow", "x-vp-instance-id sent to sources"},
      {"aggregation.engagement_index.url", k::string, "",
       "find-content URL of an external engagement index (empty: the local one)"},
      {"aggregation.engagement_index.sender_id", k::string, "SKLTP",
       "x-vp-sender-id towards an external engagement index"},
      {"aggregation.auth.disabled", k::boolean, false,
       "development only: accept engagement index writes (update, process-notification) "
       "without a token"},
      {"aggregation.auth.hs256_secret", k::string, "",
       "secret of HS256 tokens of engagement index writers (empty: HS256 refused)", {}, {}, {},
       {}, true},
      {"aggregation.auth.public_keys_file", k::string, "",
       "PEM public keys or a JWKS file for RS256 / ES256 tokens of engagement index writers"},
      {"aggregation.auth.issuer", k::string, "",
       "required iss of index writers' tokens (empty: not checked)"},
      {"aggregation.auth.audience", k::string, "",
       "required aud of index writers' tokens (empty: not checked)"},
      {"aggregation.max_engagements", k::integer, 10000,
       "most engagements one index lookup may find (local or external); more fails the request "
       "with 502 engagement_index_too_large", 1, 1000000},
      {"aggregation.io_threads", k::integer, 0,
       "I/O threads of the source calls (0: one per core, at most 8)", 0, 64},
      {"aggregation.native_http", k::boolean, true,
       "plain http:// source calls on medflowd's own HTTP/1.1 client (false: libcurl; https:// "
       "always uses libcurl)"},
      {"aggregation.max_response_bytes", k::integer, 16777216,
       "largest answer body a source or the external index may send; a larger one fails that "
       "call", 1024, 1073741824},
      {"aggregation.tls.ca_file", k::string, "",
       "https:// sources and index: PEM file of the CAs their certificates must chain to "
       "(empty: the system's)"},
      {"aggregation.tls.cert_file", k::string, "",
       "https:// sources and index: PEM client certificate shown to a server that asks for one "
       "(mutual TLS; empty: none)"},
      {"aggregation.tls.key_file", k::string, "",
       "private key (PEM) of aggregation.tls.cert_file (empty: in the certificate file)"},
      {"aggregation.tls.key_password", k::string, "",
       "password of an encrypted aggregation.tls.key_file (better set as "
       "MEDFLOW_AGGREGATION_TLS_KEY_PASSWORD than in a file)", {}, {}, {}, {}, true},
      {"aggregation.service_timeout_ms", k::integer, 4000,
       "SERVICE_TIMEOUT_MS: one source call (and the external index)", 1, 600000, {},
       {"SERVICE_TIMEOUT_MS"}},
      {"aggregation.aggregate_timeout_ms", k::integer, 4500,
       "AGGREGATE_TIMEOUT_MS: collecting the sources' answers", 1, 600000, {},
       {"AGGREGATE_TIMEOUT_MS"}},
      {"aggregation.aggregated_service_timeout_ms", k::integer, 5000,
       "AGGREGATED_SERVICE_TIMEOUT_MS: the whole aggregated request", 1, 600000, {},
       {"AGGREGATED_SERVICE_TIMEOUT_MS"}},
      {"aggregation.cache.enabled", k::boolean, false, "cache the sources' answers (per service)"},
      {"aggregation.cache.max_entries", k::integer, 1000, "CACHE_MAX_ENTRIES per service", 1,
       10000000, {}, {"CACHE_MAX_ENTRIES"}},
      {"aggregation.cache.ttl_ms", k::integer, 5000,
       "CACHE_TTL_MS: a cached answer this young is served without calling the source", 1,
       86400000, {}, {"CACHE_TTL_MS"}},
      {"aggregation.cache.expiration_interval_ms", k::integer, 1000,
       "CACHE_EXPIRATION_INTERVAL_MS: how often old entries are swept", 100, 86400000, {},
       {"CACHE_EXPIRATION_INTERVAL_MS"}},
      {"aggregation.cache.stale_ms", k::integer, 300000,
       "an older cached answer stands in for a failing source this long", 1, 604800000},

      // -- exams flow: results inbox ----------------------------------------------------------------
      {"exams.inbox.dir", k::string, "",
       "results root on local disk, <YYYY_MM>/<folder>/<file>, watched with inotify; empty: "
       "exam_results under store.data_dir (not used when exams.s3.bucket is set)"},
      {"exams.inbox.workers", k::integer, 16,
       "result files handled at once (each worker reads, applies and moves one file; their "
       "store writes share group commits)", 1, 256},
      {"exams.inbox.page_files", k::integer, 1000,
       "result files listed per page of the completed folders", 1, 1000},
      {"exams.inbox.rescan_interval_ms", k::integer, 30000,
       "local inbox: full rescan besides inotify (files no event announced)", 100, 86400000},
      {"exams.inbox.settle_ms", k::integer, 5000,
       "local inbox: a file no event announced is taken once unmodified this long", 0,
       86400000},
      {"exams.s3.bucket", k::string, "",
       "ZMED_S3_BUCKET: keep the results inbox in this S3 bucket instead of on local disk",
       {}, {}, {}, {"ZMED_S3_BUCKET"}},
      {"exams.s3.endpoint", k::string, "https://s3.us-east-1.amazonaws.com",
       "S3 endpoint, scheme://host[:port]"},
      {"exams.s3.region", k::string, "us-east-1", "S3 region (SigV4 signing)"},
      {"exams.s3.access_key", k::string, "", "S3 access key id", {}, {}, {},
       {"AWS_ACCESS_KEY_ID"}},
      {"exams.s3.secret_key", k::string, "",
       "S3 secret key (better set as AWS_SECRET_ACCESS_KEY than in a file)", {}, {}, {},
       {"AWS_SECRET_ACCESS_KEY"}, true},
      {"exams.s3.path_style", k::boolean, true,
       "path-style URLs (endpoint/bucket/key); false: the bucket in the host name"},
      {"exams.s3.poll_interval_ms", k::integer, 30000,
       "how often the S3 inbox lists the completed folders for new files", 100, 86400000},
      {"exams.s3.timeout_ms", k::integer, 10000, "one S3 call", 100, 600000},
      {"exams.folders.completed", k::string, "completed",
       "ZMED_S3_COMPLETED_KEY: folder of new result files", {}, {}, {}, {"ZMED_S3_COMPLETED_KEY"}},
      {"exams.folders.processed", k::string, "processed",
       "ZMED_S3_PROCESSED_KEY: folder of applied results", {}, {}, {}, {"ZMED_S3_PROCESSED_KEY"}},
      {"exams.folders.stuck", k::string, "stuck",
       "ZMED_S3_STUCK_KEY: folder of files whose tokens cannot be used", {}, {}, {},
       {"ZMED_S3_STUCK_KEY"}},
      {"exams.folders.denied", k::string, "denied",
       "ZMED_S3_DENIED_KEY: folder of results whose patient is missing, inactive or not the "
       "exam's", {}, {}, {}, {"ZMED_S3_DENIED_KEY"}},
      {"exams.folders.deleted", k::string, "deleted",
       "ZMED_S3_DELETED_KEY: folder of results of revoked exams", {}, {}, {},
       {"ZMED_S3_DELETED_KEY"}},

      // -- exams flow: notifications --------------------------------------------------------------
      {"exams.notify.from", k::string, "results@medflow.local",
       "sender address of the result e-mails"},
      {"exams.notify.subject", k::string, "Your exam result is ready",
       "subject of the result e-mails"},
      {"exams.notify.smtp_host", k::string, "127.0.0.1", "SMTP server of the result e-mails"},
      {"exams.notify.smtp_port", k::integer, 25, "SMTP port", 1, 65535},
      {"exams.notify.smtp_tls", k::string, "starttls",
       "none (plain, loopback relays only), starttls (required) or implicit (smtps)", {}, {},
       {"none", "starttls", "implicit"}},
      {"exams.notify.smtp_username", k::string, "", "SMTP AUTH user (empty: no AUTH)"},
      {"exams.notify.smtp_password", k::string, "",
       "SMTP AUTH password (better set as MEDFLOW_EXAMS_NOTIFY_SMTP_PASSWORD)", {}, {}, {}, {},
       true},
      {"exams.notify.smtp_timeout_ms", k::integer, 15000, "one whole SMTP exchange", 100,
       600000},
      {"exams.notify.sms_url", k::string, "",
       "SMS gateway: POST {\"to\",\"text\",\"reference\"} here, any 2xx is sent (empty: SMS "
       "attempts fail and are retried)"},
      {"exams.notify.sms_timeout_ms", k::integer, 8000, "one call to the SMS gateway", 100,
       600000},
      {"exams.notify.max_attempts", k::integer, 10,
       "attempts of a notification before it is recorded as failed", 1, 1000},
      {"exams.notify.retry_initial_ms", k::integer, 1000,
       "wait before the second attempt; doubles after each failure", 1, 86400000},
      {"exams.notify.retry_max_ms", k::integer, 600000, "longest wait between attempts", 1,
       86400000},
      {"exams.notify.claim_ms", k::integer, 60000,
       "postgres (several instances on one store): a notification an instance's sender took "
       "is not taken by another one for this long (at least twice the longer of "
       "exams.notify.smtp_timeout_ms and exams.notify.sms_timeout_ms); "
       "one an instance died with is sent by another after it",
       1000, 86400000},
  };
  return keys;
}

}  // namespace medflow
