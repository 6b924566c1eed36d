// Package compat holds refbroker's client compatibility matrix: tests, and
// nothing else, that run Kafka clients nobody here wrote against an
// embedded refbroker. Each client (franz-go, Sarama, segmentio/kafka-go,
// and librdkafka through Debian's kcat and python3-confluent-kafka) is a
// value of the client type in its own file; every scenario of the matrix
// (produce, consume to the end of a partition, offset reset, group commit
// and resume, rebalance, admin) is written once in matrix_test.go,
// prepares its data and checks the outcome with franz-go, and calls the
// client only for the step under test. docs/refbroker.md shows the matrix
// and TestMatrixDocumented keeps it in step with the clients' files.
//
// librdkafka's tools are found on PATH (/usr/bin/python3 for the Python
// binding, which Debian installs for the system interpreter). Outside CI a
// missing tool skips its client with a message naming the package; with
// CI=true it fails, because .ci/run installs them.
package compat
