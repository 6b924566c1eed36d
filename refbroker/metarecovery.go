package refbroker

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// What a damaged or missing metadata file may cost, and what it may not:
// the metadata file names the topics, their IDs (directory names) and
// configs. Losing it must never lose the data in the topic directories.
// So:
//   - the file is checksummed and has a backup generation (metafile.go);
//   - each topic directory carries its own record (topicRecordName), so
//     the metadata can be rebuilt from the directories alone;
//   - a topic directory is deleted only when it carries a deletion marker
//     (deletedMarkerName), which DeleteTopics writes before it changes the
//     metadata: nothing else proves the user deleted it.

const (
	// topicRecordName is the file in each topic directory naming it.
	topicRecordName = "topic.json"
	// deletedMarkerName marks a topic directory whose topic the user
	// deleted; only such a directory is ever removed at start.
	deletedMarkerName = "deleted"
)

// topicRecord is the per-directory copy of a topic's identity.
type topicRecord struct {
	Name    string            `json:"name"`
	ID      string            `json:"id"`
	Configs map[string]string `json:"configs,omitempty"`
}

// writeTopicRecord writes (atomically) dir/topic.json for tp.
func writeTopicRecord(dir string, tp *topic) error {
	data, err := json.Marshal(topicRecord{Name: tp.name, ID: hex.EncodeToString(tp.id[:]), Configs: tp.configs})
	if err != nil {
		return fmt.Errorf("encode topic record: %w", err)
	}
	if err := fsys.MkdirAll(fsys.OS{}, dir, 0o755); err != nil {
		return err
	}
	if err := fsys.WriteFile(fsys.OS{}, filepath.Join(dir, topicRecordName), data, fsys.WriteOptions{}); err != nil {
		return fmt.Errorf("write topic record: %w", err)
	}
	return nil
}

// loadMetadata decides what to start from. The current file if it is
// valid; else the backup generation (logged at WARN: topics created after
// it stay on disk, unserved, until a rebuild); else, with rebuild, the
// topic directories; else, if the data directory holds topics, an error
// that says how to recover. A data directory without metadata or topics
// is a first start.
func loadMetadata(dir string, rebuild bool, logger *slog.Logger) (metaFile, error) {
	path, prev := filepath.Join(dir, metaFileName), filepath.Join(dir, metaPrevName)
	m, err := readMetaPath(path)
	if err == nil && !rebuild {
		return m, nil
	}
	curErr := err
	if !rebuild {
		pm, perr := readMetaPath(prev)
		if perr == nil {
			// The backup may miss the last change (a topic created
			// after it): the directories fill that in.
			logger.Warn("refbroker: metadata file unusable; rebuilding it from its backup generation and the topic directories",
				"file", path, "err", curErr, "backup", prev)
			return rebuildMetadata(dir, pm, logger)
		}
		dirs, lerr := topicDirNames(dir)
		if lerr != nil {
			return metaFile{}, lerr
		}
		if len(dirs) == 0 && errors.Is(curErr, fs.ErrNotExist) && errors.Is(perr, fs.ErrNotExist) {
			return metaFile{Version: metaFileVersion}, nil // first start
		}
		return metaFile{}, fmt.Errorf("%w: %v; backup: %v. %d topic directories are in %s and were left untouched; "+
			"start with --rebuild-metadata (Config.RebuildMetadata) to rebuild the metadata from them",
			ErrCorruptMetadata, curErr, perr, len(dirs), filepath.Join(dir, topicsDirName))
	}
	if err != nil { // the cluster ID and producer IDs of the backup, if any
		m, _ = readMetaPath(prev)
	}
	return rebuildMetadata(dir, m, logger)
}

// rebuildMetadata builds the metadata from the topic directories: a
// topic base knows keeps its name and configs there, any other is named
// by its topic.json (or served as "recovered-<id>" without one); the
// partition directories give the partition count. The cluster ID and
// producer-ID reservation come from base. Deleted (marked) topics are not
// rebuilt.
func rebuildMetadata(dir string, base metaFile, logger *slog.Logger) (metaFile, error) {
	m := base
	known := make(map[string]metaTopic, len(base.Topics))
	for _, mt := range base.Topics {
		known[mt.ID] = mt
	}
	m.Topics = nil
	names, err := topicDirNames(dir)
	if err != nil {
		return metaFile{}, err
	}
	seen := map[string]bool{}
	for _, idHex := range names {
		tdir := filepath.Join(dir, topicsDirName, idHex)
		if _, err := os.Stat(filepath.Join(tdir, deletedMarkerName)); err == nil {
			continue
		}
		mt, err := rebuildTopic(tdir, idHex)
		if err != nil {
			logger.Warn("refbroker: rebuild metadata: topic directory skipped (left untouched)", "dir", tdir, "err", err)
			continue
		}
		if k, ok := known[idHex]; ok {
			mt.Name, mt.Configs, mt.Partitions = k.Name, k.Configs, max(mt.Partitions, k.Partitions)
		} else {
			logger.Warn("refbroker: rebuild metadata: topic restored from its directory", "topic", mt.Name, "id", idHex, "partitions", mt.Partitions)
		}
		if seen[mt.Name] {
			mt.Name = "recovered-" + idHex
		}
		seen[mt.Name] = true
		m.Topics = append(m.Topics, mt)
	}
	return m, nil
}

// rebuildTopic reads one topic directory.
func rebuildTopic(tdir, idHex string) (metaTopic, error) {
	if _, err := parseTopicID(idHex); err != nil {
		return metaTopic{}, err
	}
	mt := metaTopic{ID: idHex, Name: "recovered-" + idHex}
	if data, err := os.ReadFile(filepath.Join(tdir, topicRecordName)); err == nil {
		var rec topicRecord
		if json.Unmarshal(data, &rec) == nil && rec.ID == idHex && validateTopicName(rec.Name) == nil {
			mt.Name, mt.Configs = rec.Name, rec.Configs
		}
	}
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return mt, err
	}
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && p >= 0 {
			mt.Partitions = max(mt.Partitions, int32(p)+1)
		}
	}
	if mt.Partitions == 0 {
		return mt, fmt.Errorf("no partition directories")
	}
	return mt, nil
}

// topicDirNames lists the entries of DataDir/topics.
func topicDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, topicsDirName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list topic directories: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// removeOrphans handles topic directories the metadata does not name. One
// with a deletion marker is what a crash during DeleteTopics leaves: it
// is removed. Any other is kept and reported: it may be a topic the
// metadata lost, and only the user can say otherwise.
func (t *topicTable) removeOrphans() {
	names, err := topicDirNames(t.dir)
	if err != nil {
		t.logger.Warn("refbroker: list topic dirs", "err", err)
		return
	}
	for _, name := range names {
		if id, err := parseTopicID(name); err == nil && t.byID[id] != nil {
			continue
		}
		path := filepath.Join(t.dir, topicsDirName, name)
		if _, err := os.Stat(filepath.Join(path, deletedMarkerName)); err != nil {
			t.logger.Warn("refbroker: topic directory not in the metadata: kept, not served (start with --rebuild-metadata to serve it, or delete it yourself)", "dir", path)
			continue
		}
		t.logger.Info("refbroker: removing the directory of a deleted topic", "dir", path)
		if err := os.RemoveAll(path); err != nil {
			t.logger.Warn("refbroker: remove deleted topic directory", "dir", path, "err", err)
		}
	}
}

// markDeleted writes the deletion marker into a topic's directory and
// syncs it, before the metadata stops naming the topic.
func markDeleted(topicDir string) error {
	if err := fsys.CreateSynced(fsys.OS{}, filepath.Join(topicDir, deletedMarkerName)); err != nil {
		return fmt.Errorf("mark topic deleted: %w", err)
	}
	return nil
}
