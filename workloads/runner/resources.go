package runner

import (
	"sort"
	"sync"
)

// Resources records the topics (with their queues, streams or consumer
// groups) that runs have created and not yet deleted, per system. A
// program that must exit mid-run reads it to say what it leaves behind.
// The zero value is ready to use; its methods are safe to call
// concurrently.
type Resources struct {
	mu   sync.Mutex
	live map[string]string // topic -> system
}

func (r *Resources) created(system, topic string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live == nil {
		r.live = make(map[string]string)
	}
	r.live[topic] = system
}

func (r *Resources) deleted(topic string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, topic)
}

// Live lists the topics created and not deleted, as "system: topic",
// sorted.
func (r *Resources) Live() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.live))
	for t, s := range r.live {
		out = append(out, s+": "+t)
	}
	sort.Strings(out)
	return out
}
