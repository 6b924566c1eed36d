package refbroker

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// topicsDirName is the directory under DataDir holding one directory per
// topic, named by the topic ID's hex form; each holds one storage log
// directory per partition, named by partition number. IDs rather than names
// keep a deleted and recreated topic from meeting its predecessor's files
// and keep path lengths bounded (topic names reach 249 bytes).
const topicsDirName = "topics"

// topic is one topic's state. A *topic is immutable once published in the
// table: CreatePartitions publishes a new *topic with a longer parts slice,
// so readers that took a pointer under the read lock need no further
// locking. The logs themselves are safe for concurrent use.
type topic struct {
	name    string
	id      topicID
	configs map[string]string // per-topic overrides, read-only
	parts   []*storage.Log
}

// topicTable owns every topic, its logs and the metadata file. Lookups take
// mu for reading; changes are serialised by adminMu (held across slow log
// opens and metadata writes) and take mu for writing only to swap map
// entries, so admin operations never stall produce and fetch.
type topicTable struct {
	dir    string // DataDir
	base   storage.Config
	logger *slog.Logger

	adminMu   sync.Mutex // serialises changes and metadata writes
	clusterID string
	nextPID   int64 // next producer ID to hand out; adminMu
	pidLimit  int64 // first producer ID not yet reserved on disk; adminMu

	mu     sync.RWMutex
	byName map[string]*topic
	byID   map[topicID]*topic
	closed bool
}

// openTopicTable loads the metadata file in dir and opens every partition
// log. clusterID overrides the persisted cluster ID when non-empty.
func openTopicTable(dir, clusterID string, rebuild bool, base storage.Config, logger *slog.Logger) (*topicTable, error) {
	if err := os.MkdirAll(filepath.Join(dir, topicsDirName), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	m, err := loadMetadata(dir, rebuild, logger)
	if err != nil {
		return nil, err
	}
	t := &topicTable{
		dir: dir, base: base, logger: logger,
		clusterID: m.ClusterID,
		byName:    make(map[string]*topic, len(m.Topics)),
		byID:      make(map[topicID]*topic, len(m.Topics)),
	}
	if clusterID != "" {
		t.clusterID = clusterID
	}
	if t.clusterID == "" {
		t.clusterID = newClusterID()
	}
	t.nextPID = m.ProducerIDReserved
	for _, mt := range m.Topics {
		tp, err := t.openTopic(mt)
		if err != nil {
			t.closeAll()
			return nil, err
		}
		t.byName[tp.name], t.byID[tp.id] = tp, tp
		for _, l := range tp.parts {
			// Derive from storage too: a crash after a block was used
			// but before the next reservation reached the disk must
			// still not reuse an ID that reached a log.
			t.nextPID = max(t.nextPID, l.MaxProducerID()+1)
		}
	}
	t.pidLimit = t.nextPID
	t.removeOrphans()
	if err := t.persistLocked(); err != nil {
		t.closeAll()
		return nil, err
	}
	return t, nil
}

// openTopic opens the logs of a persisted topic record.
func (t *topicTable) openTopic(mt metaTopic) (*topic, error) {
	id, err := parseTopicID(mt.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: topic %s: %v", ErrCorruptMetadata, mt.Name, err)
	}
	cfg, err := topicStorageConfig(t.base, mt.Configs)
	if err != nil {
		return nil, fmt.Errorf("%w: topic %s: %v", ErrCorruptMetadata, mt.Name, err)
	}
	tp := &topic{name: mt.Name, id: id, configs: mt.Configs}
	tp.parts, err = t.openLogs(id, cfg, 0, mt.Partitions)
	if err != nil {
		return nil, fmt.Errorf("open topic %s: %w", mt.Name, err)
	}
	// A deletion whose metadata write failed left its marker behind: the
	// topic is still named, so it is not deleted.
	_ = os.Remove(filepath.Join(t.topicDir(id), deletedMarkerName))
	// Directories from before topic records existed get one now.
	if _, err := os.Stat(filepath.Join(t.topicDir(id), topicRecordName)); err != nil {
		if err := writeTopicRecord(t.topicDir(id), tp); err != nil {
			t.logger.Warn("refbroker: write topic record", "topic", tp.name, "err", err)
		}
	}
	return tp, nil
}

// openLogs opens (creating if missing) partitions [from, to) of a topic.
// On error the logs opened here are closed again.
func (t *topicTable) openLogs(id topicID, cfg storage.Config, from, to int32) ([]*storage.Log, error) {
	logs := make([]*storage.Log, 0, to-from)
	for p := from; p < to; p++ {
		path := t.partitionDir(id, p)
		l, err := storage.Open(path, cfg)
		if err != nil {
			for _, l := range logs {
				_ = l.Close()
			}
			return nil, fmt.Errorf("open partition log %s: %w", path, err)
		}
		logs = append(logs, l)
	}
	return logs, nil
}

func (t *topicTable) topicDir(id topicID) string {
	return filepath.Join(t.dir, topicsDirName, hex.EncodeToString(id[:]))
}

func (t *topicTable) partitionDir(id topicID, p int32) string {
	return filepath.Join(t.topicDir(id), strconv.Itoa(int(p)))
}

// persistLocked writes the metadata file from the current table. The caller
// holds adminMu (or is the constructor).
func (t *topicTable) persistLocked() error {
	m := metaFile{ClusterID: t.clusterID, ProducerIDReserved: t.pidLimit}
	t.mu.RLock()
	for _, tp := range t.byName {
		m.Topics = append(m.Topics, metaTopic{
			Name: tp.name, ID: hex.EncodeToString(tp.id[:]),
			Partitions: int32(len(tp.parts)), Configs: tp.configs,
		})
	}
	t.mu.RUnlock()
	return writeMetaFile(t.dir, m)
}

// lookup returns the named topic, or nil.
func (t *topicTable) lookup(name string) *topic {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byName[name]
}

// lookupID returns the topic with the given ID, or nil.
func (t *topicTable) lookupID(id topicID) *topic {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byID[id]
}

// partition returns the log of one partition, or nil if the topic or
// partition does not exist.
func (t *topicTable) partition(name string, p int32) *storage.Log {
	tp := t.lookup(name)
	if tp == nil || p < 0 || int(p) >= len(tp.parts) {
		return nil
	}
	return tp.parts[p]
}

// all returns a snapshot of every topic.
func (t *topicTable) all() []*topic {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*topic, 0, len(t.byName))
	for _, tp := range t.byName {
		out = append(out, tp)
	}
	return out
}

// create makes a topic with n partitions and the given (validated) configs.
// With validateOnly it checks and returns what would be created without
// touching disk. It returns errTopicExists for a taken name.
func (t *topicTable) create(name string, n int32, configs map[string]string, validateOnly bool) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	cfg, err := topicStorageConfig(t.base, configs)
	if err != nil {
		return nil, err
	}
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	if t.lookup(name) != nil {
		return nil, fmt.Errorf("create topic %s: %w", name, errTopicExists)
	}
	if other := t.collision(name); other != "" {
		return nil, fmt.Errorf("%w: %q collides with existing topic %q: '.' and '_' are the same in metric names", errInvalidTopicName, name, other)
	}
	tp := &topic{name: name, id: newTopicID(), configs: maps.Clone(configs)}
	if validateOnly {
		tp.parts = make([]*storage.Log, n)
		return tp, nil
	}
	if tp.parts, err = t.openLogs(tp.id, cfg, 0, n); err != nil {
		_ = os.RemoveAll(t.topicDir(tp.id))
		return nil, fmt.Errorf("create topic %s: %w", name, err)
	}
	if err := t.publish(tp, nil); err != nil {
		for _, l := range tp.parts {
			_ = l.Close()
		}
		_ = os.RemoveAll(t.topicDir(tp.id))
		return nil, fmt.Errorf("create topic %s: %w", name, err)
	}
	return tp, nil
}

// collision returns an existing topic whose name differs from name only
// by '.' against '_', as Kafka refuses (both map to one metric name), or
// "". The caller holds adminMu.
func (t *topicTable) collision(name string) string {
	key := strings.ReplaceAll(name, ".", "_")
	t.mu.RLock()
	defer t.mu.RUnlock()
	for other := range t.byName {
		if other != name && strings.ReplaceAll(other, ".", "_") == key {
			return other
		}
	}
	return ""
}

// publish swaps tp into the maps (replacing old if non-nil) and persists.
// On a persist failure the swap is undone. The caller holds adminMu.
func (t *topicTable) publish(tp, old *topic) error {
	// The directory's own record first: if the metadata file is later
	// lost, the directory still says which topic it is.
	if err := writeTopicRecord(t.topicDir(tp.id), tp); err != nil {
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.byName[tp.name], t.byID[tp.id] = tp, tp
	t.mu.Unlock()
	if err := t.persistLocked(); err != nil {
		t.mu.Lock()
		if old != nil {
			t.byName[old.name], t.byID[old.id] = old, old
		} else {
			delete(t.byName, tp.name)
			delete(t.byID, tp.id)
		}
		t.mu.Unlock()
		return err
	}
	return nil
}

// addPartitions grows a topic to total partitions. It returns the topic as
// it is after the call.
func (t *topicTable) addPartitions(name string, total int32, validateOnly bool) (*topic, error) {
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	old := t.lookup(name)
	if old == nil {
		return nil, fmt.Errorf("add partitions to %s: %w", name, errUnknownTopic)
	}
	have := int32(len(old.parts))
	if total <= have {
		return nil, fmt.Errorf("%w: topic %s has %d partitions, asked for %d; the count can only grow", errInvalidPartitions, name, have, total)
	}
	if validateOnly {
		return old, nil
	}
	cfg, err := topicStorageConfig(t.base, old.configs)
	if err != nil {
		return nil, fmt.Errorf("add partitions to %s: %w", name, err)
	}
	added, err := t.openLogs(old.id, cfg, have, total)
	if err != nil {
		return nil, fmt.Errorf("add partitions to %s: %w", name, err)
	}
	tp := &topic{name: old.name, id: old.id, configs: old.configs, parts: append(old.parts[:have:have], added...)}
	if err := t.publish(tp, old); err != nil {
		for _, l := range added {
			_ = l.Delete()
		}
		return nil, fmt.Errorf("add partitions to %s: %w", name, err)
	}
	return tp, nil
}

// remove deletes a topic: it leaves the maps, its directory is marked
// deleted, the metadata file is rewritten, and then its logs are closed
// and their files removed. A crash after the metadata write leaves a
// marked directory that the next start removes.
func (t *topicTable) remove(tp *topic) error {
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	t.mu.Lock()
	if cur := t.byName[tp.name]; cur == nil || cur.id != tp.id {
		t.mu.Unlock()
		return fmt.Errorf("delete topic %s: %w", tp.name, errUnknownTopic)
	}
	cur := t.byName[tp.name]
	delete(t.byName, tp.name)
	delete(t.byID, tp.id)
	t.mu.Unlock()
	// The marker first: a start after a crash between the metadata write
	// and the removal may delete only a directory proven deleted.
	err := markDeleted(t.topicDir(cur.id))
	if err == nil {
		err = t.persistLocked()
	}
	if err != nil {
		_ = os.Remove(filepath.Join(t.topicDir(cur.id), deletedMarkerName))
		t.mu.Lock()
		t.byName[cur.name], t.byID[cur.id] = cur, cur
		t.mu.Unlock()
		return fmt.Errorf("delete topic %s: %w", tp.name, err)
	}
	var errs []error
	for _, l := range cur.parts {
		if err := l.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(t.topicDir(cur.id)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete files of topic %s: %w", tp.name, err)
	}
	return nil
}

// nextProducerID hands out a producer ID that no earlier run or call has
// used, reserving IDs on disk a block at a time.
func (t *topicTable) nextProducerID() (int64, error) {
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	if t.nextPID >= t.pidLimit {
		prev := t.pidLimit
		t.pidLimit = t.nextPID + producerIDBlock
		if err := t.persistLocked(); err != nil {
			t.pidLimit = prev
			return 0, fmt.Errorf("reserve producer IDs: %w", err)
		}
	}
	id := t.nextPID
	t.nextPID++
	return id, nil
}

// closeAll closes every log, leaving clean-shutdown markers; the table is
// unusable afterwards.
func (t *topicTable) closeAll() error {
	t.mu.Lock()
	t.closed = true
	topics := make([]*topic, 0, len(t.byName))
	for _, tp := range t.byName {
		topics = append(topics, tp)
	}
	t.mu.Unlock()
	var errs []error
	for _, tp := range topics {
		for p, l := range tp.parts {
			if err := l.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
				errs = append(errs, fmt.Errorf("close %s-%d: %w", tp.name, p, err))
			}
		}
	}
	return errors.Join(errs...)
}
