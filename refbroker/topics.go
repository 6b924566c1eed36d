package refbroker

import (
	"context"
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
	"sync/atomic"

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
// mu for reading; topic changes are serialised by adminMu (held across slow
// log opens) and take mu for writing only to swap map entries, so admin
// operations never stall produce and fetch. writeMu makes each metadata
// write and the map change it records one step, so producer-ID
// reservations (pidMu, not adminMu: InitProducerID must not wait for a
// long CreateTopics) never write a file that misses a published topic.
// Lock order: adminMu, pidMu, writeMu, mu.
type topicTable struct {
	dir    string // DataDir
	base   storage.Config
	logger *slog.Logger

	adminMu sync.Mutex // serialises topic changes
	pidMu   sync.Mutex // serialises producer-ID hand-out
	writeMu sync.Mutex // serialises metadata writes with the map changes they record
	// quota limits the partitions created per minute
	// (Config.PartitionCreationsPerMinute); nil is no limit.
	quota *createQuota
	// metaWrites counts metadata file writes, so tests can check that a
	// request writes it once, not once per topic.
	metaWrites atomic.Int64
	clusterID  string
	nextPID    int64        // next producer ID to hand out; pidMu
	pidLimit   atomic.Int64 // first producer ID reserved on disk; changed under pidMu

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
	t.pidLimit.Store(t.nextPID)
	t.removeOrphans()
	if err := t.persistLocked(); err != nil { // no other goroutine yet
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

// persistLocked writes the metadata file from the current table plus
// pending, topics about to be published (replacing any of the same name).
// The caller holds writeMu (or is the constructor).
func (t *topicTable) persistLocked(pending ...*topic) error {
	m := metaFile{ClusterID: t.clusterID, ProducerIDReserved: t.pidLimit.Load()}
	record := func(tp *topic) metaTopic {
		return metaTopic{Name: tp.name, ID: hex.EncodeToString(tp.id[:]), Partitions: int32(len(tp.parts)), Configs: tp.configs}
	}
	replaced := make(map[string]bool, len(pending))
	for _, tp := range pending {
		replaced[tp.name] = true
		m.Topics = append(m.Topics, record(tp))
	}
	t.mu.RLock()
	for _, tp := range t.byName {
		if !replaced[tp.name] {
			m.Topics = append(m.Topics, record(tp))
		}
	}
	t.mu.RUnlock()
	t.metaWrites.Add(1)
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

// topicSpec is one topic a request asks to create.
type topicSpec struct {
	name       string
	partitions int32
	configs    map[string]string // validated by topicStorageConfig
}

// create makes one topic; see createTopics. Tests and single-topic
// callers use it.
func (t *topicTable) create(name string, n int32, configs map[string]string, validateOnly bool) (*topic, error) {
	created, errs, err := t.createTopics(context.Background(), []topicSpec{{name, n, configs}}, validateOnly, nil)
	if err != nil {
		return nil, err
	}
	return created[0], errs[0]
}

// createTopics creates the topics of one request with one metadata write
// for all of them, not one per topic. Each topic is checked (name,
// configs, not taken, no '.'/'_' collision), then admit (nil admits all)
// applies the creation limits, as Kafka does after its own checks, then
// its logs and topic record are created. One metadata write then names
// every created topic, and only after it are they published: a topic is
// never served, and so never holds acknowledged data, before the metadata
// names it. errs[i] is specs[i]'s error, created[i] its topic (with
// validateOnly, what would be created, touching no disk).
//
// When ctx ends between two topics, the rest are not created (their
// errors and err are the context's cause); those created so far are
// still written and published.
func (t *topicTable) createTopics(ctx context.Context, specs []topicSpec, validateOnly bool, admit func(topicSpec) error) (created []*topic, errs []error, err error) {
	created, errs = make([]*topic, len(specs)), make([]error, len(specs))
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	taken := map[string]bool{} // names created by this request
	var pending []*topic
	for i, sp := range specs {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
			for j := i; j < len(specs); j++ {
				errs[j] = err
			}
			break
		}
		created[i], errs[i] = t.prepareTopic(sp, validateOnly, admit, taken)
		if errs[i] == nil && !validateOnly {
			taken[sp.name] = true
			pending = append(pending, created[i])
		}
	}
	if len(pending) == 0 {
		return created, errs, err
	}
	if perr := t.publishAll(pending); perr != nil {
		for i, tp := range created {
			if tp != nil && taken[tp.name] {
				for _, l := range tp.parts {
					_ = l.Close()
				}
				_ = os.RemoveAll(t.topicDir(tp.id))
				created[i], errs[i] = nil, fmt.Errorf("create topic %s: %w", tp.name, perr)
			}
		}
	}
	return created, errs, err
}

// prepareTopic checks one topic of a createTopics request and, unless
// validateOnly, creates its logs and topic record. taken holds the names
// this request already created. The caller holds adminMu.
func (t *topicTable) prepareTopic(sp topicSpec, validateOnly bool, admit func(topicSpec) error, taken map[string]bool) (*topic, error) {
	if err := validateTopicName(sp.name); err != nil {
		return nil, err
	}
	cfg, err := topicStorageConfig(t.base, sp.configs)
	if err != nil {
		return nil, err
	}
	if taken[sp.name] || t.lookup(sp.name) != nil {
		return nil, fmt.Errorf("create topic %s: %w", sp.name, errTopicExists)
	}
	if other := t.collision(sp.name, taken); other != "" {
		return nil, fmt.Errorf("%w: %q collides with existing topic %q: '.' and '_' are the same in metric names", errInvalidTopicName, sp.name, other)
	}
	if admit != nil {
		if err := admit(sp); err != nil {
			return nil, err
		}
	}
	tp := &topic{name: sp.name, id: newTopicID(), configs: maps.Clone(sp.configs)}
	if validateOnly {
		tp.parts = make([]*storage.Log, sp.partitions)
		return tp, nil
	}
	if tp.parts, err = t.openLogs(tp.id, cfg, 0, sp.partitions); err != nil {
		_ = os.RemoveAll(t.topicDir(tp.id))
		return nil, fmt.Errorf("create topic %s: %w", sp.name, err)
	}
	// The directory's own record first: if the metadata file is later
	// lost, the directory still says which topic it is.
	if err := writeTopicRecord(t.topicDir(tp.id), tp); err != nil {
		for _, l := range tp.parts {
			_ = l.Close()
		}
		_ = os.RemoveAll(t.topicDir(tp.id))
		return nil, fmt.Errorf("create topic %s: %w", sp.name, err)
	}
	return tp, nil
}

// collision returns an existing topic, or one in taken, whose name
// differs from name only by '.' against '_', as Kafka refuses (both map to
// one metric name), or "". The caller holds adminMu.
func (t *topicTable) collision(name string, taken map[string]bool) string {
	key := strings.ReplaceAll(name, ".", "_")
	clash := func(other string) bool { return other != name && strings.ReplaceAll(other, ".", "_") == key }
	for other := range taken {
		if clash(other) {
			return other
		}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for other := range t.byName {
		if clash(other) {
			return other
		}
	}
	return ""
}

// publishAll writes the metadata naming tps (new topics, or new versions
// of topics) in one write, then swaps them into the maps. On failure
// nothing is published. The caller holds adminMu.
func (t *topicTable) publishAll(tps []*topic) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.RLock()
	closed := t.closed
	t.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := t.persistLocked(tps...); err != nil {
		return err
	}
	t.mu.Lock()
	for _, tp := range tps {
		t.byName[tp.name], t.byID[tp.id] = tp, tp
	}
	t.mu.Unlock()
	return nil
}

// partitionSpec is one topic's partition increase in a request.
type partitionSpec struct {
	name  string
	total int32
}

// addPartitionsMany grows each named topic to its total partitions, with
// one metadata write for the whole request. admit (nil admits all) is
// asked with the number of new partitions once a topic passed its checks.
// tps[i] is the topic as it is after the call, errs[i] the error of
// specs[i].
func (t *topicTable) addPartitionsMany(specs []partitionSpec, validateOnly bool, admit func(name string, added int32) error) (tps []*topic, errs []error) {
	tps, errs = make([]*topic, len(specs)), make([]error, len(specs))
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	var grown, old []*topic
	for i, sp := range specs {
		tps[i], errs[i] = t.growTopic(sp, validateOnly, admit)
		if errs[i] == nil && !validateOnly {
			grown, old = append(grown, tps[i]), append(old, t.lookup(sp.name))
		}
	}
	if len(grown) == 0 {
		return tps, errs
	}
	if err := t.publishAll(grown); err != nil {
		for i, tp := range tps {
			for j, g := range grown {
				if tp == g {
					for _, l := range g.parts[len(old[j].parts):] {
						_ = l.Delete()
					}
					tps[i], errs[i] = nil, fmt.Errorf("add partitions to %s: %w", g.name, err)
				}
			}
		}
	}
	return tps, errs
}

// growTopic checks one partition increase and, unless validateOnly,
// opens the new logs. The caller holds adminMu.
func (t *topicTable) growTopic(sp partitionSpec, validateOnly bool, admit func(string, int32) error) (*topic, error) {
	old := t.lookup(sp.name)
	if old == nil {
		return nil, fmt.Errorf("add partitions to %s: %w", sp.name, errUnknownTopic)
	}
	have := int32(len(old.parts))
	if sp.total <= have {
		return nil, fmt.Errorf("%w: topic %s has %d partitions, asked for %d; the count can only grow", errInvalidPartitions, sp.name, have, sp.total)
	}
	if admit != nil {
		if err := admit(sp.name, sp.total-have); err != nil {
			return nil, err
		}
	}
	if validateOnly {
		return old, nil
	}
	cfg, err := topicStorageConfig(t.base, old.configs)
	if err != nil {
		return nil, fmt.Errorf("add partitions to %s: %w", sp.name, err)
	}
	added, err := t.openLogs(old.id, cfg, have, sp.total)
	if err != nil {
		return nil, fmt.Errorf("add partitions to %s: %w", sp.name, err)
	}
	return &topic{name: old.name, id: old.id, configs: old.configs, parts: append(old.parts[:have:have], added...)}, nil
}

// remove deletes a topic: it leaves the maps, its directory is marked
// deleted, the metadata file is rewritten, and then its logs are closed
// and their files removed. A crash after the metadata write leaves a
// marked directory that the next start removes.
func (t *topicTable) remove(tp *topic) error {
	t.adminMu.Lock()
	defer t.adminMu.Unlock()
	cur := t.lookup(tp.name)
	if cur == nil || cur.id != tp.id {
		return fmt.Errorf("delete topic %s: %w", tp.name, errUnknownTopic)
	}
	// The marker first: a start after a crash between the metadata write
	// and the removal may delete only a directory proven deleted (and
	// one whose topic the metadata still names is kept).
	if err := markDeleted(t.topicDir(cur.id)); err != nil {
		_ = os.Remove(filepath.Join(t.topicDir(cur.id), deletedMarkerName))
		return fmt.Errorf("delete topic %s: %w", tp.name, err)
	}
	t.writeMu.Lock()
	t.mu.Lock()
	delete(t.byName, cur.name)
	delete(t.byID, cur.id)
	t.mu.Unlock()
	err := t.persistLocked()
	if err != nil {
		t.mu.Lock()
		t.byName[cur.name], t.byID[cur.id] = cur, cur
		t.mu.Unlock()
	}
	t.writeMu.Unlock()
	if err != nil {
		_ = os.Remove(filepath.Join(t.topicDir(cur.id), deletedMarkerName))
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
	t.pidMu.Lock()
	defer t.pidMu.Unlock()
	if t.nextPID >= t.pidLimit.Load() {
		prev := t.pidLimit.Load()
		t.pidLimit.Store(t.nextPID + producerIDBlock)
		t.writeMu.Lock()
		err := t.persistLocked()
		t.writeMu.Unlock()
		if err != nil {
			// The file may still hold the larger reservation: harmless,
			// a reservation only has to be at least what was handed out.
			t.pidLimit.Store(prev)
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
