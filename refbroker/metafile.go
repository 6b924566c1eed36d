package refbroker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// metaFileName is the topic metadata file inside DataDir; metaPrevName
// holds the generation before it, so that losing or damaging the current
// file costs at most the last metadata change.
const (
	metaFileName = "refbroker-meta.json"
	metaPrevName = metaFileName + ".prev"
)

// metaFileVersion is bumped on any incompatible change of the file.
// Version 1 was the bare metaFile without a checksum; it is still read.
const metaFileVersion = 2

// producerIDBlock is how many producer IDs are reserved per metadata write.
// InitProducerID hands out IDs from the reserved block, so a restart skips
// at most one block and never reuses an ID.
const producerIDBlock = 1000

// metaEnvelope is the file: the metadata and the CRC-32C of its exact
// bytes, so that any change to the file (a flipped hex digit of a topic
// ID stays valid JSON) is detected instead of believed.
type metaEnvelope struct {
	Version int             `json:"version"`
	CRC32C  string          `json:"crc32c"`
	Meta    json.RawMessage `json:"meta"`
}

// metaFile is the persisted broker metadata: everything needed to reopen
// topics after a restart. It is small and rewritten whole on every change.
type metaFile struct {
	Version   int    `json:"version,omitempty"` // only in version-1 files
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

// readMetaPath loads one metadata file. A missing file is fs.ErrNotExist;
// anything else that is not a valid file is ErrCorruptMetadata.
func readMetaPath(path string) (metaFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return metaFile{}, fmt.Errorf("read metadata %s: %w", path, err)
	}
	var env metaEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return metaFile{}, fmt.Errorf("%w: decode %s: %v", ErrCorruptMetadata, path, err)
	}
	body := data
	switch env.Version {
	case 1: // the whole file is the metadata, unchecked
	case metaFileVersion:
		if want := fmt.Sprintf("%08x", crc32.Checksum(env.Meta, castagnoli)); env.CRC32C != want {
			return metaFile{}, fmt.Errorf("%w: %s: checksum %q, contents sum to %q", ErrCorruptMetadata, path, env.CRC32C, want)
		}
		body = env.Meta
	default:
		return metaFile{}, fmt.Errorf("%w: %s has version %d, want 1 or %d", ErrCorruptMetadata, path, env.Version, metaFileVersion)
	}
	var m metaFile
	if err := json.Unmarshal(body, &m); err != nil {
		return metaFile{}, fmt.Errorf("%w: decode %s: %v", ErrCorruptMetadata, path, err)
	}
	for _, t := range m.Topics {
		if _, err := parseTopicID(t.ID); err != nil || validateTopicName(t.Name) != nil || t.Partitions < 1 {
			return metaFile{}, fmt.Errorf("%w: %s: bad topic record %q (id %q, %d partitions)", ErrCorruptMetadata, path, t.Name, t.ID, t.Partitions)
		}
	}
	return m, nil
}

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeMetaFile replaces dir's metadata file atomically and keeps the
// replaced generation as metaPrevName (fsys.WriteFile with a backup): a
// crash leaves a complete current file (old or new) and a complete
// backup, never a torn one.
func writeMetaFile(dir string, m metaFile) error {
	m.Version = 0
	body, err := json.MarshalIndent(m, "  ", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	data, err := json.MarshalIndent(metaEnvelope{
		Version: metaFileVersion, CRC32C: fmt.Sprintf("%08x", crc32.Checksum(body, castagnoli)), Meta: body,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	opts := fsys.WriteOptions{Backup: filepath.Join(dir, metaPrevName)}
	if err := fsys.WriteFile(fsys.OS{}, filepath.Join(dir, metaFileName), data, opts); err != nil {
		return fmt.Errorf("write metadata: %w", err)
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
