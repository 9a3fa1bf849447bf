package data

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fuzz targets of every reader. Each checks, for any input:
//
//   - no panic and no hang (bounded: a watchdog of fuzzTimeout);
//   - allocation in proportion to the input: at most allocBase + allocPerByte bytes
//     per byte of input (decompressed, for gzip), so that a header announcing a huge
//     shape in a tiny file is refused before anything of that size is made;
//   - every error a *FormatError (file, place, what was expected);
//   - the in-memory reader and the streaming reader agree: both fail, or both return
//     the same data set, and a data set that loads passes Validate.
//
// Run one with `go test -run '^$' -fuzz '^FuzzIDX$' -fuzztime 60s ./data/`, or all
// with ci/fuzz.sh. Inputs that failed once are kept in testdata/fuzz/ and run with
// every `go test`.

const (
	fuzzTimeout  = 10 * time.Second
	allocBase    = 8 << 20 // buffers (bufio, gzip, csv), independent of the input
	allocPerByte = 64      // float32 per byte of ubyte input, the raw copy, doubling growth, twice (memory and stream)
)

// bounded runs f in a goroutine and fails t when f panics, runs past fuzzTimeout, or
// allocates more than allocBase + allocPerByte*size bytes.
func bounded(t *testing.T, size int, f func()) {
	t.Helper()
	type result struct {
		panicked any
		stack    []byte
	}
	done := make(chan result, 1)
	before := allocated()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{p, debug.Stack()}
				return
			}
			done <- result{}
		}()
		f()
	}()
	select {
	case r := <-done:
		if r.stack != nil {
			require.Failf(t, "panic", "%v\n%s", r.panicked, r.stack)
		}
	case <-time.After(fuzzTimeout):
		require.Failf(t, "hang", "still running after %v", fuzzTimeout)
	}
	limit := uint64(allocBase + allocPerByte*size)
	require.LessOrEqual(t, allocated()-before, limit, "bytes allocated for %d bytes of input", size)
}

// allocated returns the bytes the process has allocated on the heap so far. It reads
// runtime/metrics, not runtime.ReadMemStats: ReadMemStats stops the world, and with
// it in every call a fuzzing worker stopped reporting back to its coordinator.
// Allocations of small objects are counted when their span is refilled, so the count
// lags by a few tens of kilobytes at most (allocBase covers it).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// inflated is the size of b, or of its decompressed content when it is gzip (read up
// to 256 MiB): what a reader may fairly allocate in proportion to.
func inflated(b []byte) int {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return len(b)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return len(b)
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(zr, 256<<20))
	return max(len(b), int(n))
}

// drainRows reads every row of r (no *testing.T: it runs inside bounded).
func drainRows(r RowReader) (*Dataset, error) {
	info := r.Info()
	ds := &Dataset{Name: info.Name, D: info.D, Shape: info.Shape}
	if info.Labels {
		ds.Labels = []int{}
	}
	for {
		x, l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ds.X = append(ds.X, x...)
		if info.Labels {
			ds.Labels = append(ds.Labels, l)
		}
		ds.N++
	}
	if info.N >= 0 && info.N != ds.N {
		return nil, fmt.Errorf("Info().N = %d, read %d rows", info.N, ds.N)
	}
	return ds, nil
}

// agree checks what a reader in memory (ds, err) and its streaming twin (sds, serr)
// returned for the same input.
func agree(t *testing.T, ds *Dataset, err error, sds *Dataset, serr error) {
	t.Helper()
	for _, e := range []error{err, serr} {
		if e != nil {
			require.True(t, IsFormatError(e), "error %q (%T) is not a *FormatError", e, e)
		}
	}
	require.Equal(t, err == nil, serr == nil, "success in memory, then streamed: in memory: %v; streamed: %v", err, serr)
	if err != nil {
		return
	}
	require.NoError(t, ds.Validate(), "loaded data set fails Validate")
	require.Equal(t, ds.N, sds.N, "N, in memory then streamed")
	require.Equal(t, ds.D, sds.D, "D, in memory then streamed")
	// slices.Equal: a nil and an empty shape or X are the same; labels must agree on nil.
	require.True(t, slices.Equal(ds.Shape, sds.Shape), "shape: in memory %v, streamed %v", ds.Shape, sds.Shape)
	require.Equal(t, ds.Labels, sds.Labels, "labels, in memory then streamed")
	require.True(t, slices.Equal(ds.X, sds.X), "X differs between in memory and streamed")
}

// FuzzIDX: any bytes as an IDX image file and an IDX label file, read in memory and
// streamed, give the same data set or both an error; never a panic, and allocation
// bounded by what the (possibly gzipped) bytes hold.
//
// fuzz-execs: 20000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzIDX(f *testing.F) {
	u8 := idxBytes(f, IDXFromUint8([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}), false)
	labels := idxBytes(f, IDXFromUint8([]int{2}, []byte{1, 0}), false)
	f.Add(u8, labels, true)
	f.Add(u8, []byte(nil), false)
	f.Add(idxBytes(f, IDXFromUint8([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}), true), idxBytes(f, IDXFromUint8([]int{2}, []byte{1, 0}), true), true)
	f.Add(idxBytes(f, IDXFromFloat32([]int{2, 3}, []float32{-3, 0.5, 7, 2, 1, 0}), false), idxBytes(f, IDXFromInt32([]int{2}, []int32{-1, 65535}), false), true)
	f.Add(idxBytes(f, IDXFromInt32([]int{3}, []int32{-1, 0, 1}), false), idxBytes(f, IDXFromInt32([]int{3}, []int32{0, -2, 1}), false), true)
	f.Add(idxBytes(f, IDXFromUint8([]int{0, 28, 28}, nil), false), []byte(nil), false)
	f.Add(u8[:len(u8)-1], labels, true)                  // truncated
	f.Add(append(slices.Clone(u8), 9), labels[:5], true) // trailing data, short labels
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, labels, true)
	f.Add([]byte{0, 0, 8, 2, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff}, []byte(nil), false) // one huge row in a tiny file
	f.Add(u8, npyBytesTB(f, func(w io.Writer) error { return WriteNPYInt(w, []int{1, 0}) }), true)
	f.Fuzz(func(t *testing.T, images, labels []byte, withLabels bool) {
		var (
			ds, sds   *Dataset
			err, serr error
		)
		bounded(t, inflated(images)+inflated(labels), func() {
			ds, err = func() (*Dataset, error) {
				a, err := DecodeIDX(bytes.NewReader(images), "img")
				if err != nil {
					return nil, err
				}
				a.Float32s()
				if a.Type.integer() {
					a.Ints()
				}
				ds, err := idxDataset("f", "img", a)
				if err != nil || !withLabels {
					return ds, err
				}
				if ds.Labels, err = decodeLabels(bytes.NewReader(labels), "lab", ds.N, "img"); err != nil {
					return nil, err
				}
				return ds, nil
			}()
			sds, serr = func() (*Dataset, error) {
				r := &recordRows{}
				if err := r.idxData("f", bytes.NewReader(images), "img"); err != nil {
					return nil, err
				}
				if withLabels {
					if err := r.labelData(bytes.NewReader(labels), "lab", "img"); err != nil {
						return nil, err
					}
				}
				return drainRows(r)
			}()
		})
		agree(t, ds, err, sds, serr)
	})
}

// FuzzNPY: any bytes as an NPY data file and an NPY label file, read in memory and
// streamed, give the same data set or both an error; never a panic, bounded allocation.
//
// fuzz-execs: 40000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzNPY(f *testing.F) {
	for _, name := range []string{"f4.npy", "f8v3.npy", "i4.npy", "i8.npy", "u1v2.npy", "be.npy", "fortran.npy"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(b, []byte(nil), false)
	}
	x := npyBytesTB(f, func(w io.Writer) error { return WriteNPYFloat32(w, []float32{0.5, 1, -1, 2, 3, 4}, 3, 2) })
	y := npyBytesTB(f, func(w io.Writer) error { return WriteNPYInt(w, []int{1, 0, -1}) })
	f8l, err := os.ReadFile("testdata/f8labels.npy")
	require.NoError(f, err)
	f.Add(x, y, true)
	f.Add(x, f8l, true)
	f.Add(x, idxBytes(f, IDXFromUint8([]int{3}, []byte{1, 2, 3}), false), true)
	f.Add(x[:len(x)-3], y, true)
	f.Add(x, y[:len(y)-1], true)
	f.Add(npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil), []byte(nil), false)
	f.Add(npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 268435456), }", make([]byte, 8)), []byte(nil), false)
	f.Add(append([]byte(npyMagic+"\x02\x00"), 0xff, 0xff, 0xff, 0x00), []byte(nil), false)
	f.Add(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", make([]byte, 16)), npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16)), true)
	f.Fuzz(func(t *testing.T, data, labels []byte, withLabels bool) {
		var (
			ds, sds   *Dataset
			err, serr error
		)
		bounded(t, inflated(data)+inflated(labels), func() {
			ds, err = func() (*Dataset, error) {
				a, err := DecodeNPY(bytes.NewReader(data), "x")
				if err != nil {
					return nil, err
				}
				a.Float32s()
				ds, err := npyDataset("f", "x", a)
				if err != nil || !withLabels {
					return ds, err
				}
				if ds.Labels, err = decodeLabels(bytes.NewReader(labels), "y", ds.N, "x"); err != nil {
					return nil, err
				}
				return ds, nil
			}()
			sds, serr = func() (*Dataset, error) {
				r := &recordRows{}
				if err := r.npyData("f", bytes.NewReader(data), "x"); err != nil {
					return nil, err
				}
				if withLabels {
					if err := r.labelData(bytes.NewReader(labels), "y", "x"); err != nil {
						return nil, err
					}
				}
				return drainRows(r)
			}()
		})
		agree(t, ds, err, sds, serr)
	})
}

// csvFuzzOptions maps the fuzzer's small integers to CSVOptions.
func csvFuzzOptions(header, label uint8, index int8, delim uint8) CSVOptions {
	opt := CSVOptions{Header: HeaderMode(header % 3), Delimiter: []rune{',', ';', '\t'}[delim%3]}
	switch label % 3 {
	case 1:
		opt.Label = LabelAt(int(index))
	case 2:
		opt.Label = LabelByName("y")
	}
	if delim&4 != 0 {
		opt.Comment = '#'
	}
	return opt
}

// FuzzCSV: any text under any header, label and delimiter option, read in memory and
// streamed, gives the same data set or both an error; never a panic, bounded allocation.
//
// fuzz-execs: 30000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzCSV(f *testing.F) {
	for _, s := range []struct {
		text                 string
		header, label, delim uint8
		index                int8
	}{
		{"1,2,3\n4,5,6\n", 0, 0, 0, 0},
		{"a,b\n0.5,1e-3\n-2, 7 \n", 0, 0, 0, 0},
		{"1,2\n3,4\n", 1, 0, 0, 0},
		{"x1,y,x2\n1,3,2\n4,0,5\n", 0, 2, 0, 0},
		{"1,2,9\n3,4,8.0\n", 0, 1, 0, -1},
		{"7,1,2\n,3,4\n-1,5,6\n", 0, 1, 0, 0},
		{"a;b\n1;2\n", 0, 0, 1, 0},
		{"1\t2\n3\t4\n", 2, 0, 2, 0},
		{"# data\r\n\"1\",2\r\n3,4\r\n", 0, 0, 4, 0},
		{"\ufeffy,a\n3,1\n", 0, 2, 0, 0},
		{"\ufeff1,2\n3,4\n", 0, 0, 0, 0},
		{"a,b,c\n1,2,3\n4,5\n", 0, 0, 0, 0},
		{"a,b\n1,NaN\n", 0, 0, 0, 0},
		{"a\n1e999\n", 0, 0, 0, 0},
		{"x,y\n1,2.5\n", 0, 2, 0, 0},
		{"x,y\n1,99999999999\n", 0, 2, 0, 0},
		{"x,y\n1,9223372036854775807\n", 0, 2, 0, 0},
		{"a,b\n1,\"2\n", 0, 0, 0, 0},
		{"", 0, 0, 0, 0},
	} {
		f.Add([]byte(s.text), s.header, s.label, s.index, s.delim)
	}
	var gzText bytes.Buffer
	zw := gzip.NewWriter(&gzText)
	zw.Write([]byte("a,y\n1,2\n3,4\n"))
	zw.Close()
	f.Add(gzText.Bytes(), uint8(0), uint8(2), int8(0), uint8(0))
	f.Add(gzText.Bytes()[:gzText.Len()-6], uint8(0), uint8(2), int8(0), uint8(0))
	f.Fuzz(func(t *testing.T, text []byte, header, label uint8, index int8, delim uint8) {
		opt := csvFuzzOptions(header, label, index, delim)
		var (
			ds, sds   *Dataset
			err, serr error
		)
		bounded(t, inflated(text), func() {
			ds, err = DecodeCSV(bytes.NewReader(text), "f.csv", opt)
			sds, serr = func() (*Dataset, error) {
				cs, err := newCSVStream(bytes.NewReader(text), "f.csv", opt)
				if err != nil {
					return nil, err
				}
				return drainRows(&csvRows{cs: cs, f: io.NopCloser(nil)})
			}()
		})
		if sds != nil {
			sds.Name = ds.Name
		}
		agree(t, ds, err, sds, serr)
		if err == nil {
			require.GreaterOrEqual(t, ds.N, 1, "a CSV data set's rows")
		}
	})
}

// FuzzManifest: any bytes as a shard set's manifest decode to a consistent manifest
// (rows add up, shard sizes match, no file twice) that survives a JSON round trip, or
// fail with a *FormatError; never a panic, bounded allocation.
//
// fuzz-execs: 80000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzManifest(f *testing.F) {
	dir := writeShards(f, shardToy(f, 10, 3), 4)
	good, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	require.NoError(f, err)
	f.Add(good)
	f.Add(append([]byte("\ufeff"), good...))
	f.Add(bytes.Replace(good, []byte(`"shard-00001.bin"`), []byte(`"shard-00000.bin"`), 1))
	f.Add(bytes.Replace(good, []byte(`"n": 10,`), []byte(``), 1))
	f.Add(bytes.Replace(good, []byte(`"n": 10,`), []byte(`"n": 10, "n": 11,`), 1))
	f.Add(bytes.Replace(good, []byte(`"rows": 4,`), []byte(`"rows": 2305843009213693952,`), 1))
	f.Add(bytes.Replace(good, []byte(`"d": 3,`), []byte(`"d": 8589934592,`), 1))
	f.Add([]byte(`{"format":"gmvae-shards","version":1,"name":"","n":0,"d":1,"shape":null,"labels":false,"labelled":0,"classes":0,"min":0,"max":0,"rows_per_shard":1,"shards":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var (
			m   *Manifest
			err error
		)
		bounded(t, len(raw), func() { m, err = decodeManifest(raw, "manifest.json") })
		if err != nil {
			require.True(t, IsFormatError(err), "error %q (%T) is not a *FormatError", err, err)
			return
		}
		// What decodes is consistent, and survives a round trip.
		total, seen := 0, map[string]bool{}
		for _, s := range m.Shards {
			total += s.Rows
			require.False(t, seen[s.File] || s.Rows < 1 || s.Rows > m.RowsPerShard || s.Bytes != ShardHeaderSize+shardPayload(s.Rows, m.D, m.Labels),
				"inconsistent shard %+v in %+v", s, m)
			seen[s.File] = true
		}
		require.False(t, total != m.N || m.Labelled > m.N || m.Classes > MaxClasses, "inconsistent manifest %+v", m)
		again, err := json.Marshal(m)
		require.NoError(t, err)
		m2, err := decodeManifest(again, "again.json")
		require.NoError(t, err, "re-encoded manifest refused\n%s", again)
		require.Equal(t, fmt.Sprint(m), fmt.Sprint(m2), "round trip")
	})
}

// FuzzShards: any manifest and two shard files open, verify, gather and order, or
// fail with a *FormatError, whether read with ReadAt or mapped; never a panic,
// bounded allocation.
//
// fuzz-execs: 16000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzShards(f *testing.F) {
	add := func(ds *Dataset, rows int, edit func(m, s0, s1 []byte) ([]byte, []byte, []byte)) {
		dir := writeShards(f, ds, rows)
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if !os.IsNotExist(err) {
				require.NoError(f, err)
			}
			return b
		}
		m, s0, s1 := read(ManifestFile), read(ShardName(0)), read(ShardName(1))
		if edit != nil {
			m, s0, s1 = edit(m, s0, s1)
		}
		f.Add(m, s0, s1, false)
		f.Add(m, s0, s1, true)
	}
	add(shardToy(f, 6, 2), 3, nil)
	nolab := shardToy(f, 5, 3)
	nolab.Labels = nil
	add(nolab, 3, nil)
	add(shardToy(f, 2, 1), 1, nil)
	add(shardToy(f, 6, 2), 3, func(m, s0, s1 []byte) ([]byte, []byte, []byte) { return m, s0, s1[:len(s1)-1] })
	add(shardToy(f, 6, 2), 3, func(m, s0, s1 []byte) ([]byte, []byte, []byte) {
		s1 = slices.Clone(s1)
		s1[ShardHeaderSize+2] ^= 0x40
		return m, s0, s1
	})
	add(shardToy(f, 6, 2), 3, func(m, s0, s1 []byte) ([]byte, []byte, []byte) {
		return bytes.Replace(m, []byte(`"shard-00001.bin"`), []byte(`"shard-00000.bin"`), 1), s0, s1
	})
	// An empty set of examples of 2^32-1 values: nothing to read, nothing to allocate.
	f.Add([]byte(`{"format":"gmvae-shards","version":1,"name":"","n":0,"d":4294967295,"shape":null,"labels":false,"labelled":0,"classes":0,"min":0,"max":0,"rows_per_shard":1,"shards":[]}`), []byte(nil), []byte(nil), false)
	// One folder per fuzzing process, rewritten for every input: creating and removing
	// a folder per input made this target several times slower.
	dir := fuzzScratch(f)
	f.Fuzz(func(t *testing.T, manifest, shard0, shard1 []byte, readAt bool) {
		for name, b := range map[string][]byte{ManifestFile: manifest, ShardName(0): shard0, ShardName(1): shard1} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
		forceReadAt = readAt
		defer func() { forceReadAt = false }()
		var errs []error
		var order []int
		var n int
		bounded(t, len(manifest)+len(shard0)+len(shard1), func() {
			s, err := OpenSharded(dir)
			if err != nil {
				errs = append(errs, err)
				return
			}
			defer s.Close()
			if err := s.Verify(); err != nil {
				errs = append(errs, err)
			}
			info := s.Info()
			n = info.N
			idx := make([]int, info.N)
			for i := range idx {
				idx[i] = i
			}
			x, l := make([]float32, info.N*info.D), make([]int, info.N)
			s.Gather(idx, x, l)
			s.HasLabels()
			s.Range()
			order = s.Order(7, 1)
			h, err := s.Head(info.N / 2)
			if err != nil {
				errs = append(errs, fmt.Errorf("head: %w", err))
				return
			}
			h.HasLabels()
			h.Range()
			h.Order(7, 1)
			for i := range info.N {
				s.Label(i)
			}
		})
		for _, err := range errs {
			require.True(t, IsFormatError(err) || strings.HasPrefix(err.Error(), "open "), "error %q (%T) is not a *FormatError", err, err)
		}
		if order != nil {
			sorted := slices.Sorted(slices.Values(order))
			for i, v := range sorted {
				if v != i {
					require.Failf(t, "not a permutation", "Order is not a permutation of 0..%d", n-1)
				}
			}
		}
	})
}

// npyBytesTB returns what write writes (an NPY writer's output).
func npyBytesTB(tb testing.TB, write func(w io.Writer) error) []byte {
	tb.Helper()
	var b bytes.Buffer
	require.NoError(tb, write(&b))
	return b.Bytes()
}

// fuzzScratch returns a folder for a fuzz target's files: in /dev/shm (memory) where
// there is one, else the test's temporary folder.
func fuzzScratch(f *testing.F) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "gmvae-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return f.TempDir()
}
