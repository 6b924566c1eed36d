package refbroker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/share"
)

// shareTopics resolves topics for the share-group coordinator over the
// topic table. Each call takes the table's read lock briefly and never
// calls back into the coordinator, as share.Topics requires.
type shareTopics struct{ t *topicTable }

var _ share.Topics = shareTopics{}

// TopicByName implements share.Topics.
func (s shareTopics) TopicByName(name string) ([16]byte, int32, bool) {
	tp := s.t.lookup(name)
	if tp == nil {
		return [16]byte{}, 0, false
	}
	return tp.id, int32(len(tp.parts)), true
}

// TopicByID implements share.Topics.
func (s shareTopics) TopicByID(id [16]byte) (string, int32, bool) {
	tp := s.t.lookupID(id)
	if tp == nil {
		return "", 0, false
	}
	return tp.name, int32(len(tp.parts)), true
}

// Bounds implements share.Topics.
func (s shareTopics) Bounds(id [16]byte, p int32) (int64, int64, bool) {
	tp := s.t.lookupID(id)
	if tp == nil || p < 0 || int(p) >= len(tp.parts) {
		return 0, 0, false
	}
	l := tp.parts[p]
	return l.StartOffset(), l.HighWatermark(), true
}

// shareVersions returns the version range the share coordinator declares
// for key, so ApiVersions never advertises more than it handles.
func shareVersions(key kmsg.Key) (int16, int16) {
	v, ok := share.Versions()[key.Int16()]
	if !ok {
		panic(fmt.Sprintf("refbroker: share coordinator does not serve key %d (%s)", key, key.Name()))
	}
	return v[0], v[1]
}
