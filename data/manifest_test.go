package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// editRaw rewrites dir's manifest through a generic JSON map.
func editRaw(t *testing.T, dir string, f func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	f(m)
	raw, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, raw, 0o644))
}

func shardEntry(m map[string]any, i int) map[string]any {
	return m["shards"].([]any)[i].(map[string]any)
}

// TestManifestConsistency: a manifest that contradicts itself or its folder is refused
// by OpenSharded, naming the manifest and the field. Before, the same shard listed
// twice opened (its 4 rows counted twice, another shard's 4 never read), a missing
// field read as 0 and was reported as some other inconsistency, a key given twice
// took its last value, and rows or d large enough to overflow a shard's size went
// unchecked.
func TestManifestConsistency(t *testing.T) {
	ds := shardToy(t, 12, 3) // 3 shards of 4 rows
	set := func(key string, v any) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { editRaw(t, dir, func(m map[string]any) { m[key] = v }) }
	}
	del := func(key string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { editRaw(t, dir, func(m map[string]any) { delete(m, key) }) }
	}
	rawEdit := func(old, new string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, ManifestFile)
			raw, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Contains(t, string(raw), old)
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(raw), old, new, 1)), 0o644))
		}
	}
	cases := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		field string // "" : none named
		frag  string
	}{
		{"shard listed twice", func(t *testing.T, dir string) {
			editRaw(t, dir, func(m map[string]any) {
				sh := m["shards"].([]any)
				sh[1] = sh[0]
			})
		}, "shards[1].file", "shard 1: shard-00000.bin is listed twice (also as shard 0): its rows would count twice and another shard's never be read"},
		{"a link to another shard", func(t *testing.T, dir string) {
			require.NoError(t, os.Link(filepath.Join(dir, ShardName(0)), filepath.Join(dir, "link.bin")))
			editRaw(t, dir, func(m map[string]any) {
				e := shardEntry(m, 0)
				m["shards"].([]any)[1] = map[string]any{"file": "link.bin", "rows": e["rows"], "bytes": e["bytes"], "crc32c": e["crc32c"]}
			})
		}, "shards[1].file", "shard 1 (link.bin) is the same file as shard 0 (shard-00000.bin), a link"},
		{"missing n", del("n"), "n", "missing field"},
		{"missing format", del("format"), "format", "missing field"},
		{"missing shape", del("shape"), "shape", "missing field"},
		{"missing rows_per_shard", del("rows_per_shard"), "rows_per_shard", "missing field"},
		{"missing shards", del("shards"), "shards", "missing field"},
		{"missing shard crc32c", func(t *testing.T, dir string) {
			editRaw(t, dir, func(m map[string]any) { delete(shardEntry(m, 2), "crc32c") })
		}, "shards[2].crc32c", "missing field"},
		{"null d", set("d", nil), "d", "null, expected a value"},
		{"field twice", rawEdit(`"n": 12,`, `"n": 12, "n": 8,`), "", `malformed manifest: field "n" appears twice`},
		{"text after the object", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ManifestFile)
			raw, _ := os.ReadFile(p)
			require.NoError(t, os.WriteFile(p, append(raw, "{}"...), 0o644))
		}, "", "malformed manifest: text after the JSON object"},
		{"shards not a list", set("shards", "x"), "shards", "expected a list of shards"},
		{"rows_per_shard 0", set("rows_per_shard", 0), "rows_per_shard", "rows_per_shard = 0, expected >= 1"},
		{"shard above rows_per_shard", set("rows_per_shard", 3), "shards[0].rows", "shard 0 (shard-00000.bin): 4 rows, expected 1..rows_per_shard (3)"},
		{"rows overflow a shard's size", func(t *testing.T, dir string) {
			editRaw(t, dir, func(m map[string]any) {
				m["rows_per_shard"] = 1 << 62
				shardEntry(m, 0)["rows"] = 1 << 61
			})
		}, "shards[0].rows", "shard 0 (shard-00000.bin): 2305843009213693952 rows of d = 3 make a file of more than 1099511627776 bytes"},
		{"d beyond uint32", set("d", 1<<33), "d", "d = 8589934592, expected 1..4294967295"},
		{"negative shape", set("shape", []int{-1, -3}), "shape", "shape [-1 -3], expected dimensions >= 1 of product d = 3"},
		{"n short", set("n", 10), "n", "the shards hold more than n = 10 rows (12 through shard 2)"},
		{"n long", set("n", 13), "n", "the shards hold 12 rows in all, expected n = 13"},
		{"empty set with a range", func(t *testing.T, dir string) {
			editRaw(t, dir, func(m map[string]any) {
				m["n"], m["shards"], m["labelled"], m["classes"] = 0, []any{}, 0, 0
			})
		}, "min", "value range [0, 1] with n = 0, expected [0, 0]"},
		{"a folder as a shard", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ShardName(2))
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o755))
		}, "", "shard-00002.bin: not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeShards(t, ds, 4)
			c.edit(t, dir)
			s, err := OpenSharded(dir)
			if err == nil {
				s.Close()
			}
			fe := wantFormatError(t, err, c.frag)
			if c.field != "" {
				assert.Equal(t, c.field, fe.Field)
				assert.Contains(t, err.Error(), "shards: "+filepath.Join(dir, ManifestFile)+`: field "`+c.field+`": `)
			}
		})
	}
	// The writer's own manifests pass, an empty set included.
	for _, n := range []int{0, 1, 12} {
		dir := writeShards(t, shardToy(t, max(n, 1), 3), 4)
		if n == 0 {
			dir = filepath.Join(t.TempDir(), "empty")
			w, err := NewShardWriter(dir, ShardWriterOptions{D: 2, Labels: true})
			require.NoError(t, err)
			_, err = w.Close()
			require.NoError(t, err)
		}
		s, err := OpenSharded(dir)
		require.NoError(t, err, "n = %d", n)
		require.NoError(t, s.Verify())
		s.Close()
	}
	// A folder that does not exist says so.
	_, err := OpenSharded(filepath.Join(t.TempDir(), "nope"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NotContains(t, err.Error(), "manifest")
}
