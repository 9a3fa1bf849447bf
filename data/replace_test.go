package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshot returns every file under dir and its bytes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[strings.TrimPrefix(p, dir)] = string(b)
		return err
	}))
	return files
}

// siblings lists the names in dir's parent other than dir's own.
func siblings(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if e.Name() != filepath.Base(dir) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestShardWriterReplacesWhenComplete: an earlier set stays byte-identical through a
// failed, an aborted and an unfinished writer, and is replaced whole by Close, with
// the atomic exchange and with the two-rename fallback; no temporary folder is left
// beside it. Before, NewShardWriter deleted the earlier set first.
func TestShardWriterReplacesWhenComplete(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			if fallback {
				exchangeFolders = func(a, b string) error { return errors.ErrUnsupported }
				defer func() { exchangeFolders = exchange }()
			}
			ds := shardToy(t, 10, 3)
			dir := writeShards(t, ds, 3) // 4 shards
			before := snapshot(t, dir)
			require.Len(t, before, 5)

			// A row fails after two shards were written: the writer aborts.
			w, err := NewShardWriter(dir, ShardWriterOptions{Name: "new", D: 3, Labels: true, RowsPerShard: 2})
			require.NoError(t, err)
			require.NoError(t, w.WriteRows(ds.X[:12], ds.Labels[:4]))
			require.Error(t, w.WriteRow([]float32{0, float32(0) / zero(), 0}, 0))
			_, err = w.Close()
			require.Error(t, err)
			assert.Equal(t, before, snapshot(t, dir))
			assert.Empty(t, siblings(t, dir))

			// An unfinished writer changes nothing either; Abort cleans up.
			w, err = NewShardWriter(dir, ShardWriterOptions{Name: "new", D: 3, RowsPerShard: 2})
			require.NoError(t, err)
			require.NoError(t, w.WriteRows(ds.X[:9], nil))
			assert.Equal(t, before, snapshot(t, dir))
			w.Abort()
			assert.Equal(t, before, snapshot(t, dir))
			assert.Empty(t, siblings(t, dir))

			// Close swaps the new set in and removes the old one.
			w, err = NewShardWriter(dir, ShardWriterOptions{Name: "new", D: 3, RowsPerShard: 100})
			require.NoError(t, err)
			require.NoError(t, w.WriteRows(ds.X, nil))
			m, err := w.Close()
			require.NoError(t, err)
			assert.Equal(t, 10, m.N)
			after := snapshot(t, dir)
			assert.Len(t, after, 2)
			assert.Empty(t, siblings(t, dir))
			s, err := OpenSharded(dir)
			require.NoError(t, err)
			require.NoError(t, s.Verify())
			assert.Equal(t, "new", s.Info().Name)
			s.Close()
		})
	}
}

func zero() float32 { return 0 }

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

// TestShardWriterRemovesStaleTmpFolders: a writer removes the temporary folders a
// dead writer for the same destination left, and nothing else: not a live process's,
// not another destination's, not a folder of another name, not files that are no
// shard files, and not a complete set while the destination is missing.
func TestShardWriterRemovesStaleTmpFolders(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	dead := deadPID(t)
	mk := func(name string, files ...string) string {
		p := filepath.Join(parent, name)
		require.NoError(t, os.MkdirAll(p, 0o755))
		for _, f := range files {
			require.NoError(t, os.WriteFile(filepath.Join(p, f), []byte("x"), 0o644))
		}
		return p
	}
	staleDone := mk(fmt.Sprintf(".out.shards-tmp-%d-abc", dead), ManifestFile, ShardName(0))
	stalePartial := mk(fmt.Sprintf(".out.shards-tmp-%d-def", dead), ShardName(0), "."+ShardName(1)+".tmp-123")
	staleForeign := mk(fmt.Sprintf(".out.shards-tmp-%d-ghi", dead), ShardName(0), "notes.txt")
	live := mk(".out.shards-tmp-1-abc", ShardName(0)) // pid 1 lives
	other := mk(fmt.Sprintf(".other.shards-tmp-%d-abc", dead), ShardName(0))
	unrelated := mk(".out.backup", ShardName(0))

	// The destination is missing: a stale folder with a manifest may be the only
	// complete set, and stays; the partial one goes.
	w, err := NewShardWriter(dir, ShardWriterOptions{D: 1})
	require.NoError(t, err)
	w.Abort()
	assert.DirExists(t, staleDone)
	assert.NoDirExists(t, stalePartial)

	require.NoError(t, os.Mkdir(dir, 0o755))
	w, err = NewShardWriter(dir, ShardWriterOptions{D: 1})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]float32{1}, 0))
	_, err = w.Close()
	require.NoError(t, err)
	assert.NoDirExists(t, staleDone)
	assert.FileExists(t, filepath.Join(staleForeign, "notes.txt"))
	assert.NoFileExists(t, filepath.Join(staleForeign, ShardName(0)))
	for _, keep := range []string{live, other, unrelated} {
		assert.FileExists(t, filepath.Join(keep, ShardName(0)))
	}
}

// TestShardWriterRelativeDestination: "." and a relative folder are replaced like any
// other (the temporary folder goes beside them, in their parent). After "." is
// replaced, the process's working folder is the removed earlier set, as after any
// rename of it: a reader must name the folder again.
func TestShardWriterRelativeDestination(t *testing.T) {
	parent := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(parent, "dot"), 0o755))
	for _, c := range []struct{ cwd, dir string }{{parent, "rel"}, {filepath.Join(parent, "dot"), "."}} {
		for range 2 { // new, then replacing the earlier set
			t.Chdir(c.cwd)
			w, err := NewShardWriter(c.dir, ShardWriterOptions{D: 1})
			require.NoError(t, err)
			require.NoError(t, w.WriteRow([]float32{1}, 0))
			_, err = w.Close()
			require.NoError(t, err)
			t.Chdir(c.cwd)
			s, err := OpenSharded(c.dir)
			require.NoError(t, err)
			s.Close()
		}
	}
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	for _, e := range ents {
		assert.NotContains(t, e.Name(), ".shards-tmp-")
	}
}
