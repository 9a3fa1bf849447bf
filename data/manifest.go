package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The fields of manifest.json and of each of its shards, all required ("shape" may be
// null): a field left out decoded as 0 or "" and surfaced later as a puzzle ("the
// shards hold 64 rows in all, expected n = 0"), so each is checked by name first.
var (
	manifestFields = []string{"format", "version", "name", "n", "d", "shape", "labels", "labelled", "classes", "min", "max", "rows_per_shard", "shards"}
	shardFields    = []string{"file", "rows", "bytes", "crc32c"}
)

// ReadManifest reads and checks dir/manifest.json (not the shard files). Errors
// (*FormatError, format "shards") name the manifest and the field at fault.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, serr // no such folder: say that, not "no manifest"
		}
		if errors.Is(err, os.ErrNotExist) {
			fe := notShardFolder("shards", path, dir).(*FormatError)
			fe.Err = os.ErrNotExist // errors.Is(err, fs.ErrNotExist) holds, without repeating the path
			return nil, fe
		}
		return nil, err
	}
	return decodeManifest(raw, path)
}

// decodeManifest parses and checks the bytes of a manifest; path names it in errors.
func decodeManifest(raw []byte, path string) (*Manifest, error) {
	raw = bytes.TrimPrefix(raw, []byte(utf8BOM))
	top, err := jsonObject(raw)
	if err != nil {
		return nil, shardErr(path, 0, 0, err, "malformed manifest")
	}
	if err := requireFields(path, "", top, manifestFields, "shape"); err != nil {
		return nil, err
	}
	var shards []json.RawMessage
	if err := json.Unmarshal(top["shards"], &shards); err != nil {
		return nil, fieldErr(path, "shards", err, "expected a list of shards")
	}
	for i, sh := range shards {
		obj, err := jsonObject(sh)
		if err != nil {
			return nil, fieldErr(path, fmt.Sprintf("shards[%d]", i), err, "malformed shard entry")
		}
		if err := requireFields(path, fmt.Sprintf("shards[%d].", i), obj, shardFields, ""); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, shardErr(path, 0, 0, err, "malformed manifest")
	}
	if err := m.check(path); err != nil {
		return nil, err
	}
	return &m, nil
}

// jsonObject reads raw, which must be one JSON object and nothing after it, and
// returns its members. A key that appears twice is an error: encoding/json would keep
// the last one silently, so that a manifest could say two things at once.
func jsonObject(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected a JSON object, found %v", tok)
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // object keys are strings, or Token fails
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("field %q appears twice", key)
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("text after the JSON object")
	}
	return obj, nil
}

// requireFields checks that obj has every one of fields, not null (but for
// nullable), naming a missing one as prefix+field.
func requireFields(path, prefix string, obj map[string]json.RawMessage, fields []string, nullable string) error {
	for _, f := range fields {
		v, ok := obj[f]
		if !ok {
			return fieldErr(path, prefix+f, nil, "missing field")
		}
		if f != nullable && string(v) == "null" {
			return fieldErr(path, prefix+f, nil, "null, expected a value")
		}
	}
	return nil
}

// fieldErr is a manifest error about one field.
func fieldErr(path, field string, err error, format string, args ...any) error {
	return &FormatError{Format: "shards", Path: path, Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
}

// maxShardBytes bounds one shard file (1 TiB, as maxPayload bounds an input file):
// sizes computed from a manifest's rows and d stay far from int64 overflow.
const maxShardBytes = maxPayload

// check validates a manifest's fields against each other.
func (m *Manifest) check(path string) error {
	fail := func(field, format string, args ...any) error { return fieldErr(path, field, nil, format, args...) }
	switch {
	case m.Format != ShardFormatName:
		return fail("format", "format %q, expected %q", m.Format, ShardFormatName)
	case m.Version != ShardFormatVersion:
		return fail("version", "version %d, expected %d", m.Version, ShardFormatVersion)
	case m.N < 0:
		return fail("n", "n = %d, expected n >= 0", m.N)
	case m.D < 1 || m.D > math.MaxUint32:
		return fail("d", "d = %d, expected 1..%d (a shard header's uint32)", m.D, uint32(math.MaxUint32))
	case m.RowsPerShard < 1:
		return fail("rows_per_shard", "rows_per_shard = %d, expected >= 1", m.RowsPerShard)
	case m.Labelled < 0 || m.Labelled > m.N || (!m.Labels && m.Labelled > 0):
		return fail("labelled", "labelled = %d, expected 0..n (%d), and 0 without labels", m.Labelled, m.N)
	case m.Classes < 0 || m.Classes > MaxClasses || (m.Labelled == 0) != (m.Classes == 0):
		return fail("classes", "classes = %d with %d labelled examples, expected 0 without labelled examples, else 1..%d", m.Classes, m.Labelled, MaxClasses)
	case isNonFinite(m.Min) || isNonFinite(m.Max) || m.Min > m.Max:
		return fail("min", "value range [%v, %v], expected finite min <= max", m.Min, m.Max)
	case m.N == 0 && (m.Min != 0 || m.Max != 0):
		return fail("min", "value range [%v, %v] with n = 0, expected [0, 0]", m.Min, m.Max)
	}
	if m.Shape != nil {
		p := 1
		for _, s := range m.Shape {
			if s < 1 || s > m.D {
				return fail("shape", "shape %v, expected dimensions >= 1 of product d = %d", m.Shape, m.D)
			}
			p *= s // stays <= d * d: no overflow
			if p > m.D {
				break
			}
		}
		if p != m.D {
			return fail("shape", "shape %v has %d elements, expected d = %d", m.Shape, p, m.D)
		}
	}
	// Bytes per row in a shard file: d float32 values and, with labels, an int32.
	rowBytes := 4 * int64(m.D)
	if m.Labels {
		rowBytes += 4
	}
	total := 0
	seen := make(map[string]int, len(m.Shards))
	for i, s := range m.Shards {
		field := func(f string) string { return fmt.Sprintf("shards[%d].%s", i, f) }
		if s.File == "" || s.File != filepath.Base(s.File) || s.File == "." || s.File == ".." || s.File == ManifestFile || strings.ContainsRune(s.File, '\\') {
			return fail(field("file"), "shard %d: file name %q, expected a plain file name in the folder", i, s.File)
		}
		if j, dup := seen[s.File]; dup {
			return fail(field("file"), "shard %d: %s is listed twice (also as shard %d): its rows would count twice and another shard's never be read", i, s.File, j)
		}
		seen[s.File] = i
		if s.Rows < 1 || s.Rows > m.RowsPerShard {
			return fail(field("rows"), "shard %d (%s): %d rows, expected 1..rows_per_shard (%d)", i, s.File, s.Rows, m.RowsPerShard)
		}
		if int64(s.Rows) > (maxShardBytes-ShardHeaderSize)/rowBytes {
			return fail(field("rows"), "shard %d (%s): %d rows of d = %d make a file of more than %d bytes", i, s.File, s.Rows, m.D, int64(maxShardBytes))
		}
		if want := ShardHeaderSize + shardPayload(s.Rows, m.D, m.Labels); s.Bytes != want {
			return fail(field("bytes"), "shard %d (%s): %d bytes, expected %d for %d rows of d = %d (labels %v)", i, s.File, s.Bytes, want, s.Rows, m.D, m.Labels)
		}
		if total += s.Rows; total > m.N {
			return fail("n", "the shards hold more than n = %d rows (%d through shard %d)", m.N, total, i)
		}
	}
	if total != m.N {
		return fail("n", "the shards hold %d rows in all, expected n = %d", total, m.N)
	}
	return nil
}
