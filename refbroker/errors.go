package refbroker

import (
	"errors"
	"path/filepath"
	"strings"
)

// Sentinel errors returned by Start, Config.Validate and the broker's
// internal topic operations. Wrapped errors carry details; match with
// errors.Is.
var (
	// ErrInvalidConfig is wrapped by every Config.Validate failure.
	ErrInvalidConfig = errors.New("refbroker: invalid config")
	// ErrClosed is returned by operations on a Broker after Close.
	ErrClosed = errors.New("refbroker: broker closed")
	// ErrShutdownTimeout is returned by Close when requests still run
	// after Config.ShutdownTimeout.
	ErrShutdownTimeout = errors.New("refbroker: shutdown timed out")
	// ErrCorruptMetadata is returned by Start when neither the topic
	// metadata file nor its backup generation is usable while topic
	// directories exist (see Config.RebuildMetadata), or a rebuild fails.
	ErrCorruptMetadata = errors.New("refbroker: corrupt metadata file")

	// errUnknownTopic reports a topic name or ID the broker does not hold.
	errUnknownTopic = errors.New("unknown topic")
	// errTopicExists reports a create of an existing topic name.
	errTopicExists = errors.New("topic already exists")
	// errInvalidPartitions reports a bad partition count.
	errInvalidPartitions = errors.New("invalid partitions")
	// errInvalidTopicName reports a topic name Kafka would reject.
	errInvalidTopicName = errors.New("invalid topic name")
	// errInvalidConfig reports a topic config refbroker rejects.
	errInvalidTopicConfig = errors.New("invalid topic config")
	// errInvalidReplicationFactor reports a replication factor other than 1.
	errInvalidReplicationFactor = errors.New("invalid replication factor")
	// errInvalidReplicaAssignment reports an assignment to another node.
	errInvalidReplicaAssignment = errors.New("invalid replica assignment")
	// errNotServed reports a request key or version the registry does
	// not serve (through Config.Intercept's ServeFunc).
	errNotServed = errors.New("not served")
	// errInvalidRequest reports a request Kafka answers with INVALID_REQUEST.
	errInvalidRequest = errors.New("invalid request")
	// errCloseConn asks the connection loop to close the connection
	// without writing a response; the wrapped text is the logged reason.
	errCloseConn = errors.New("closing connection")
)

// clientMessage is err's text for a response's ErrorMessage, with the data
// directory written as "<data-dir>": where the broker keeps its files is
// none of a client's business (the broker's own log has the full path).
func (b *Broker) clientMessage(err error) *string {
	msg := err.Error()
	if abs, aerr := filepath.Abs(b.cfg.DataDir); aerr == nil {
		msg = strings.ReplaceAll(msg, abs, "<data-dir>")
	}
	msg = strings.ReplaceAll(msg, filepath.Clean(b.cfg.DataDir), "<data-dir>")
	return &msg
}
