package refbroker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// metaFileName is the topic metadata file inside DataDir.
const metaFileName = "refbroker-meta.json"

// metaFileVersion is bumped on any incompatible change of metaFile.
const metaFileVersion = 1

// producerIDBlock is how many producer IDs are reserved per metadata write.
// InitProducerID hands out IDs from the reserved block, so a restart skips
// at most one block and never reuses an ID.
const producerIDBlock = 1000

// metaFile is the persisted broker metadata: everything needed to reopen
// topics after a restart. It is small and rewritten whole on every change.
type metaFile struct {
	Version   int    `json:"version"`
	ClusterID string `json:"cluster_id"`
	// ProducerIDReserved is the first producer ID not yet handed out in
	// any previous run: a restart resumes from here.
	ProducerIDReserved int64       `json:"producer_id_reserved"`
	Topics             []metaTopic `json:"topics"`
}

// metaTopic is one topic's persisted record.
type metaTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"` // 32 lowercase hex digits
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// readMetaFile loads dir's metadata file; a missing file is an empty broker.
func readMetaFile(dir string) (metaFile, error) {
	path := filepath.Join(dir, metaFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return metaFile{Version: metaFileVersion}, nil
	}
	if err != nil {
		return metaFile{}, fmt.Errorf("read metadata %s: %w", path, err)
	}
	var m metaFile
	if err := json.Unmarshal(data, &m); err != nil {
		return metaFile{}, fmt.Errorf("%w: decode %s: %v", ErrCorruptMetadata, path, err)
	}
	if m.Version != metaFileVersion {
		return metaFile{}, fmt.Errorf("%w: %s has version %d, want %d", ErrCorruptMetadata, path, m.Version, metaFileVersion)
	}
	for _, t := range m.Topics {
		if _, err := parseTopicID(t.ID); err != nil || validateTopicName(t.Name) != nil || t.Partitions < 1 {
			return metaFile{}, fmt.Errorf("%w: %s: bad topic record %q (id %q, %d partitions)", ErrCorruptMetadata, path, t.Name, t.ID, t.Partitions)
		}
	}
	return m, nil
}

// writeMetaFile replaces dir's metadata file atomically: write a temporary
// file, fsync it, rename it over the old one and fsync the directory, so a
// crash leaves either the old or the new file, never a torn one.
func writeMetaFile(dir string, m metaFile) error {
	m.Version = metaFileVersion
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	path := filepath.Join(dir, metaFileName)
	tmp, err := os.CreateTemp(dir, metaFileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp metadata in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmpName, path, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a rename or create inside it is
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// topicID is a Kafka topic UUID.
type topicID = [16]byte

// newTopicID returns a random version-4 UUID; the all-zero ID means "no ID"
// in the protocol, so it is never returned.
func newTopicID() topicID {
	for {
		var id topicID
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on Linux (Go 1.24+)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id != (topicID{}) {
			return id
		}
	}
}

// parseTopicID decodes the metadata file's hex form of a topic ID.
func parseTopicID(s string) (topicID, error) {
	var id topicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("topic id %q is not 32 hex digits", s)
	}
	copy(id[:], b)
	if id == (topicID{}) {
		return id, fmt.Errorf("topic id is all zero")
	}
	return id, nil
}

// newClusterID returns a random cluster ID in Kafka's form: 16 random bytes,
// base64url without padding (22 characters).
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
