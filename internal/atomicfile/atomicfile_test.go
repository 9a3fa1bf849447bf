package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name    string
		old     string // "" = no file before
		write   func(w io.Writer) error
		wantErr bool
		want    string
	}{
		{"new file", "", func(w io.Writer) error { _, err := io.WriteString(w, "fresh"); return err }, false, "fresh"},
		{"replace", "old content", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, false, "new"},
		{"empty content", "old", func(w io.Writer) error { return nil }, false, ""},
		{"write fails midway: old content kept", "old content", func(w io.Writer) error {
			if _, err := io.WriteString(w, "half of the n"); err != nil {
				return err
			}
			return errors.New("disk on fire")
		}, true, "old content"},
		{"write fails, no file before: none after", "", func(w io.Writer) error { return errors.New("nope") }, true, ""},
		{"larger than the buffer", "", func(w io.Writer) error {
			_, err := w.Write(make([]byte, 3<<20))
			return err
		}, false, string(make([]byte, 3<<20))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.bin")
			if c.old != "" {
				require.NoError(t, os.WriteFile(path, []byte(c.old), 0o600))
			}
			err := Write(path, c.write)
			if c.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				st, err := os.Stat(path)
				require.NoError(t, err)
				require.Equal(t, Perm, st.Mode().Perm())
			}
			got, rerr := os.ReadFile(path)
			if c.old == "" && c.wantErr {
				require.True(t, os.IsNotExist(rerr), "a failed first write left %s behind", path)
			} else {
				require.NoError(t, rerr)
				require.Equal(t, c.want, string(got))
			}
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range ents {
				require.Equal(t, "f.bin", e.Name(), "temporary file left in the folder")
			}
		})
	}
}

func TestWriteBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.json")
	require.NoError(t, WriteBytes(path, []byte("{}\n")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "{}\n", string(got))
}

func TestWriteMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "folder", "f")
	err := Write(path, func(w io.Writer) error { return nil })
	require.Error(t, err)
	require.Contains(t, err.Error(), "no such file or directory")
}

func TestSyncDir(t *testing.T) {
	require.NoError(t, SyncDir(t.TempDir()))
	require.Error(t, SyncDir(filepath.Join(t.TempDir(), "missing")))
}

// TestRemoveStale: the temporary files of interrupted writes go, nothing else does.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"checkpoint.safetensors", ".hidden", "a.tmp-1", "sub"}
	stale := []string{".checkpoint.safetensors.tmp-123", ".metrics.jsonl.tmp-9"}
	for _, n := range append(append([]string{}, keep[:3]...), stale...) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	removed, err := RemoveStale(dir)
	require.NoError(t, err)
	assert.ElementsMatch(t, stale, removed)
	for _, n := range keep {
		_, err := os.Stat(filepath.Join(dir, n))
		assert.NoError(t, err, n)
	}
	removed, err = RemoveStale(filepath.Join(dir, "missing"))
	assert.NoError(t, err)
	assert.Empty(t, removed)
}
