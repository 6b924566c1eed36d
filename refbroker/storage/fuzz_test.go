package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// Damage operations decoded from fuzz input, 5 bytes each:
// kind, file selector, position (2 bytes, big endian), value.
const (
	opTruncate = iota // truncate the file at pos
	opFlip            // xor the byte at pos with value|1
	opSet             // set the byte at pos to value
	opZero            // zero value bytes from pos
	opRemove          // remove the file (never the first segment)
	opKinds
)

// FuzzRecovery damages a log on disk and reopens it.
//
// Setup: a log of 14 batches over several 4 KiB segments, left either by a
// crash (files copied while the Log is open, no clean marker) or by a clean
// Close. The fuzz input is a list of damage ops (truncate, bit flip, byte
// set, zero range, file removal) applied to the segment files, their index
// files, the producer snapshots and the recovery-point checkpoint. The crash template's recovery
// point is at offset 0 (FsyncNever, no Sync), so every byte of it is in
// scope. Content damage (flip, set, zero) to synced data is outside the
// contract (a clean open, and recovery before the recovery point, trust
// batch contents), so in clean mode such ops also remove the clean marker
// and the checkpoint: the input then exercises full validation of a log
// whose segments are all trimmed.
//
// Invariants checked after Open:
//   - Open never panics and never returns an error on a damaged log;
//   - every batch Read returns is CRC-32C valid and offsets increase from
//     StartOffset to HighWatermark (gaps where damage was cut out);
//   - the recovered log is an in-order subset of what was appended, each
//     batch byte-identical (except the patched baseOffset/leader epoch) at
//     the offset it was appended at: damage drops batches, never renumbers
//     or alters one;
//   - the log accepts a new append at HighWatermark, and a clean reopen
//     returns the same prefix plus that batch.
func FuzzRecovery(f *testing.F) {
	cfg := smallConfig()
	crashed, clean, sent := fuzzTemplates(f, cfg)

	f.Add(false, []byte{})
	f.Add(true, []byte{})
	f.Add(false, []byte{opTruncate, 3, 0x00, 0x90, 0})
	f.Add(false, []byte{opFlip, 1, 0x01, 0x00, 0x40})
	f.Add(false, []byte{opFlip, 0, 0x00, 0x11, 0x01})
	f.Add(false, []byte{opZero, 2, 0x00, 0x08, 0x04})
	f.Add(false, []byte{opSet, 3, 0x00, 0x10, 0x01})
	f.Add(false, []byte{opRemove, 2, 0, 0, 0})
	f.Add(false, []byte{opTruncate, 0, 0x00, 0x05, 0, opFlip, 3, 0x02, 0x00, 0x80})
	f.Add(true, []byte{opTruncate, 3, 0x01, 0x00, 0})
	f.Add(true, []byte{opFlip, 2, 0x00, 0x30, 0x08})
	f.Add(true, []byte{opRemove, 1, 0, 0, 0})
	f.Add(false, []byte{opFlip, 255, 0x00, 0x09, 0x01}) // the checkpoint
	f.Add(true, []byte{opFlip, 128, 0x00, 0x20, 0x02})  // an index file
	f.Add(true, []byte{opRemove, 130, 0, 0, 0})         // a metadata file
	f.Add(true, []byte{opTruncate, 133, 0x00, 0x10, 0}) // a metadata file

	f.Fuzz(func(t *testing.T, fromClean bool, ops []byte) {
		src := crashed
		if fromClean {
			src = clean
		}
		dir := copyDir(t, src)
		if damage(t, dir, ops) && fromClean {
			os.Remove(filepath.Join(dir, cleanMarkerName))
			os.Remove(filepath.Join(dir, checkpointName))
		}
		l, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open damaged log: %v", err)
		}
		kept := recoveredIndexes(t, l, sent)
		extra := makeBatch(plain(2, '!'))
		hw := l.HighWatermark()
		if len(kept) > 0 && hw < sentEnd(sent, kept[len(kept)-1]+1) {
			t.Fatalf("high watermark %d below the end of the last kept batch", hw)
		}
		if res := mustAppend(t, l, extra); res.BaseOffset != hw {
			t.Fatalf("append after recovery got offset %d, want %d", res.BaseOffset, hw)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		again, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer again.Close()
		got := readBatches(t, again)
		if len(got) != len(kept)+1 || !sameBatch(got[len(kept)], extra) || parseHeader(got[len(kept)]).BaseOffset != hw {
			t.Fatalf("reopen: %d batches, want the %d kept plus the appended one at %d", len(got), len(kept), hw)
		}
		for i, k := range kept {
			if !sameBatch(got[i], sent[k]) {
				t.Fatalf("reopen: batch %d changed", i)
			}
		}
	})
}

// fuzzTemplates builds the crash and clean-close templates once.
func fuzzTemplates(f *testing.F, cfg Config) (crashed, clean string, sent [][]byte) {
	f.Helper()
	l, dir, sent := buildLog(f, cfg, 14)
	crashed = copyDir(f, dir)
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	return crashed, copyDir(f, dir), sent
}

// damage applies the ops to the files of dir and reports whether any
// changed segment contents (as opposed to sizes or presence). Index,
// snapshot and checkpoint files carry CRCs, so any damage to them is in
// scope even after a clean Close. Selector bytes 0-127 pick a segment,
// 128-254 an index or snapshot file, 255 the checkpoint.
func damage(t *testing.T, dir string, ops []byte) (content bool) {
	t.Helper()
	for ; len(ops) >= 5; ops = ops[5:] {
		files := segmentFiles(t, dir)
		meta := metadataFiles(t, dir)
		path := filepath.Join(dir, checkpointName)
		isSegment := false
		switch sel := int(ops[1]); {
		case sel < 128 && len(files) > 0:
			path, isSegment = files[sel%len(files)], true
		case sel < 255 && len(meta) > 0:
			path = meta[sel%len(meta)]
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue // removed by an earlier op
		}
		pos := (int(ops[2])<<8 | int(ops[3]))
		if len(data) > 0 {
			pos %= len(data) + 1
		}
		val := ops[4]
		switch ops[0] % opKinds {
		case opTruncate:
			data = data[:min(pos, len(data))]
		case opFlip:
			if pos < len(data) {
				data[pos] ^= val | 1
				content = content || isSegment
			}
		case opSet:
			if pos < len(data) && data[pos] != val {
				data[pos] = val
				content = content || isSegment
			}
		case opZero:
			clear(data[min(pos, len(data)):min(pos+int(val), len(data))])
			content = content || isSegment
		case opRemove:
			if len(files) > 0 && path != files[0] {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return content
}

// metadataFiles lists the index and producer snapshot files in dir.
func metadataFiles(t *testing.T, dir string) []string {
	t.Helper()
	idx, err := filepath.Glob(filepath.Join(dir, "*"+indexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return append(idx, snaps...)
}
