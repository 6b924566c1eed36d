// Package refbroker is brokerbench's reference broker: a single-node server
// that speaks the Kafka wire protocol on top of the refbroker/storage
// partition log and the refbroker/group consumer-group coordinator.
//
// The main types are [Config], a plain struct with [Config.Default] and
// [Config.Validate], and [Broker], returned by [Start] and stopped with
// [Broker.Close]. A Kafka client (franz-go, librdkafka, the Java client)
// reaches the broker at [Broker.Addr].
//
// The protocol server keeps one file per Kafka API key, named NN_name.go
// after the key number as in franz-go's kfake. Each file registers its key
// in init through regKey, once, with everything known about it: versions,
// handler, whether it may block, whether its request buffer is reused and
// the fields refbroker ignores or rejects. ApiVersions, dispatch, the
// connection loop and the table in docs/refbroker.md read that
// registration; no other code decides by key number.
//
// [Config.Security] makes the listener PLAINTEXT, SSL, SASL_PLAINTEXT or
// SASL_SSL as in Kafka, with SASL PLAIN and SCRAM users from a file and
// allow-only ACLs from another; each key's registration states whether it
// is served before SASL authentication and how the ACLs apply to it.
//
// [Config.Intercept] is a test-only hook through which every request
// passes at dispatch; refbroker/refbrokertest plants broker bugs with it.
//
// Requests on one connection are handled one at a time, in order, and their
// responses are written in request order, as Kafka does; different
// connections are served concurrently. Record batches are treated as opaque
// bytes on the produce and fetch paths: storage validates them, the server
// never decodes individual records.
package refbroker
