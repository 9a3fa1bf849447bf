// Package atomicfile writes files so that a reader, or a crash, never sees half of one:
// the content goes to a temporary file in the destination's folder, is fsynced, renamed
// over the destination, and the folder is fsynced so that the rename is durable too.
//
// Checkpoints, run summaries, pictures and shard manifests are written this way: after
// a crash a path holds either its old content or the complete new one.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Perm is the mode of the files written here. os.CreateTemp makes 0600; run folders and
// data sets are meant to be shared.
const Perm os.FileMode = 0o644

// Write writes path with the bytes that write produces, buffered. When write, or any
// step after it, fails, the temporary file is removed and path keeps what it held.
func Write(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	err = f.Chmod(Perm)
	bw := bufio.NewWriterSize(f, 1<<20)
	if err == nil {
		err = write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteBytes writes data to path atomically, as Write does.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs a folder so that a rename or a new file in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveStale removes the temporary files that a Write into dir left behind when its
// process was killed before the rename (".NAME.tmp-*"), and returns their names. Call it
// when a program starts writing into a folder that only it writes to (a run folder):
// such a file is never the current content of anything.
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || len(name) < 2 || name[0] != '.' || !strings.Contains(name, ".tmp-") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}
