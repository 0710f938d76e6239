// Package metrics is the one owner of hermes's Prometheus metrics: every
// metric's name, type, labels and help (the README's table), the
// registries of the processes that serve them (init, a gateway, the
// dashboard), the scrape handler, and the metrics token
// (HERMES_METRICS_TOKEN, HERMES_METRICS_TOKEN_FILE) that every /metrics
// accepts as Authorization: Bearer <token>, compared in constant time.
//
// The domain packages keep their own counters (the supervisor's services,
// the log pipeline, the gate, the gateway's exchanges) and know nothing of
// Prometheus: the serving package hands this one a snapshot function or
// an observation, and this one turns it into series. Series follow the
// Prometheus style: base units (seconds, bytes), _total counters, and no
// label carrying a secret, a message, a raw path or an unbounded value.
package metrics
