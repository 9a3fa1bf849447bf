package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/predict"
	"github.com/gmvae/gmvae/report"
)

// inMemoryOutputs returns the files assign wrote before it streamed, for all of x at
// once (Predictor.Run over the whole data, then the whole-array writers), by file
// name, in format csv or npy.
func inMemoryOutputs(t *testing.T, ckpt string, x []float32, n int, format string) map[string][]byte {
	p, err := predict.Load(engine.NewCPU(), ckpt)
	require.NoError(t, err)
	defer p.Close()
	c := p.Config()
	r, err := p.Run(x, n)
	require.NoError(t, err)
	cl, post, logits, zm := r.Clusters, r.Post, r.Logits, r.ZMean
	out := map[string][]byte{}
	if format == "npy" {
		var b bytes.Buffer
		require.NoError(t, data.WriteNPYInt(&b, cl))
		out["clusters.npy"] = bytes.Clone(b.Bytes())
		b.Reset()
		require.NoError(t, data.WriteNPYFloat32(&b, post, n, c.K))
		out["posteriors.npy"] = bytes.Clone(b.Bytes())
		b.Reset()
		require.NoError(t, data.WriteNPYFloat32(&b, logits, n, c.K))
		out["logits.npy"] = bytes.Clone(b.Bytes())
		b.Reset()
		require.NoError(t, data.WriteNPYFloat32(&b, zm, n, c.Dz))
		out["latent.npy"] = bytes.Clone(b.Bytes())
		return out
	}
	csv := func(head []string, cols int, cell func(i, j int) string) []byte {
		var sb strings.Builder
		sb.WriteString(strings.Join(head, ",") + "\n")
		for i := 0; i < n; i++ {
			for j := 0; j < cols; j++ {
				if j > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(cell(i, j))
			}
			sb.WriteByte('\n')
		}
		return []byte(sb.String())
	}
	f32 := func(v []float32, cols int) func(i, j int) string {
		return func(i, j int) string { return strconv.FormatFloat(float64(v[i*cols+j]), 'g', -1, 32) }
	}
	out["clusters.csv"] = csv([]string{"cluster"}, 1, func(i, _ int) string { return strconv.Itoa(cl[i]) })
	out["posteriors.csv"] = csv([]string{"p0", "p1", "p2"}, c.K, f32(post, c.K))
	out["logits.csv"] = csv([]string{"l0", "l1", "l2"}, c.K, f32(logits, c.K))
	out["latent.csv"] = csv([]string{"z0", "z1"}, c.Dz, f32(zm, c.Dz))
	return out
}

// requireOutputs checks that dir holds exactly the files of want, byte for byte.
func requireOutputs(t *testing.T, dir string, want map[string][]byte, msg string) {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err, msg)
	var names []string
	for _, e := range entries {
		if e.Name() != ScoresFile { // written with labels; TestAssignScores checks it
			names = append(names, e.Name())
		}
	}
	require.Len(t, names, len(want), "%s: files %v", msg, names)
	for name, w := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, msg)
		require.True(t, bytes.Equal(w, got), "%s: %s differs from the in-memory output:\n got %q\nwant %q", msg, name, got, w)
	}
}

// fixtureRows is the number of rows of every input of newFixture (4 values each).
const fixtureRows = 11

// fixture is a checkpoint and the same labelled rows as several inputs of assign.
type fixture struct {
	dir, ckpt             string    // the test's folder and the checkpoint in it
	csv, npy, idx, shards string    // the rows as a CSV file (label column "y"), NPY, IDX and a shard folder
	x                     []float32 // the rows (fixtureRows × 4)
}

// newFixture writes a checkpoint and fixtureRows rows: writeData's CSV, and the same
// rows as an NPY file, an IDX file and a shard folder of 4 rows per shard.
func newFixture(t *testing.T) fixture {
	dir := t.TempDir()
	f := fixture{dir: dir, ckpt: writeCheckpoint(t, dir), csv: filepath.Join(dir, "new.csv")}
	f.x = writeData(t, f.csv, fixtureRows, 4)
	f.npy, f.idx, f.shards = writeInputs(t, dir, f.csv, f.x, fixtureRows)
	return f
}

// writeInputs writes the rows of x (n × 4, as writeData's CSV at csvPath) as an NPY
// file, an IDX file and a shard folder of 4 rows per shard, and returns their paths.
func writeInputs(t *testing.T, dir, csvPath string, x []float32, n int) (npy, idx, shards string) {
	npy = filepath.Join(dir, "new.npy")
	require.NoError(t, data.SaveNPYFloat32(npy, x, n, 4))
	idx = filepath.Join(dir, "new.idx")
	var b bytes.Buffer
	require.NoError(t, data.WriteIDX(&b, data.IDXFromFloat32([]int{n, 4}, x)))
	require.NoError(t, os.WriteFile(idx, b.Bytes(), 0o644))
	shards = filepath.Join(dir, "shards")
	r, err := data.OpenCSVRows(csvPath, data.CSVOptions{Label: data.LabelByName("y")})
	require.NoError(t, err)
	m, err := data.ConvertToShards(shards, r, "", 4)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Len(t, m.Shards, (n+3)/4)
	return npy, idx, shards
}

// TestAssignStreaming: assign over a shard folder, an NPY, an IDX and a CSV file of
// the same 11 rows, in chunks of 1, 3 (the model's MaxBatch), 4, 11 (N), 12 and the
// default, writes byte for byte what the whole-data path wrote, in both formats.
func TestAssignStreaming(t *testing.T) {
	f := newFixture(t)
	dir, ckpt, csvPath, x, npy, idx, shards := f.dir, f.ckpt, f.csv, f.x, f.npy, f.idx, f.shards
	const n = fixtureRows
	want := map[string]map[string][]byte{"csv": inMemoryOutputs(t, ckpt, x, n, "csv"), "npy": inMemoryOutputs(t, ckpt, x, n, "npy")}
	inputs := []struct {
		name string
		args []string
	}{
		{"csv", []string{"-data", csvPath, "-label-col", "y"}},
		{"npy", []string{"-data", npy}},
		{"idx", []string{"-data", idx}},
		{"shards", []string{"-data", shards}},
		{"shards/", []string{"-data", shards + string(filepath.Separator)}},
	}
	run := 0
	for _, in := range inputs {
		for _, format := range []string{"csv", "npy"} {
			for _, chunk := range []int{1, 3, 4, n, n + 1, 0} {
				msg := in.name + " " + format + " chunk " + strconv.Itoa(chunk)
				out := filepath.Join(dir, "out", strconv.Itoa(run))
				run++
				args := append([]string{"-checkpoint", ckpt, "-out", out, "-device", "cpu", "-format", format}, in.args...)
				if chunk > 0 {
					args = append(args, "-chunk", strconv.Itoa(chunk))
				}
				code, stdout, stderr := runCmd(args...)
				require.Equal(t, 0, code, "%s: %s", msg, stderr)
				require.Contains(t, stdout, "assigned 11 rows", msg)
				requireOutputs(t, out, want[format], msg)
			}
		}
	}
}

// TestAssignFailureLeavesNoOutput: a truncated NPY file, one with trailing bytes, a
// non-finite CSV value, a
// damaged shard and a shard folder of another D fail with the file (and row) named,
// and leave no output file: no folder when there was none, the earlier outputs as
// they were when there were.
func TestAssignFailureLeavesNoOutput(t *testing.T) {
	f := newFixture(t)
	dir, ckpt, csvPath, x, npy, shards := f.dir, f.ckpt, f.csv, f.x, f.npy, f.shards
	const n = fixtureRows

	raw, err := os.ReadFile(npy)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.npy")
	require.NoError(t, os.WriteFile(truncated, raw[:len(raw)-6], 0o644))

	long := filepath.Join(dir, "long.npy")
	require.NoError(t, os.WriteFile(long, append(bytes.Clone(raw), 0, 0, 0, 0), 0o644))

	nan := filepath.Join(dir, "nan.csv")
	csvRaw, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	lines := strings.Split(string(csvRaw), "\n")
	lines[9] = "0.1,NaN,0.2,0.3,1" // line 10 of the file: row 9
	require.NoError(t, os.WriteFile(nan, []byte(strings.Join(lines, "\n")), 0o644))

	// a shard folder whose last shard holds an infinite value (the header and sizes
	// still match: only Verify, or the reading, finds it)
	damaged := filepath.Join(dir, "damaged")
	require.NoError(t, os.MkdirAll(damaged, 0o755))
	ents, err := os.ReadDir(shards)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(shards, e.Name()))
		require.NoError(t, err)
		if e.Name() == data.ShardName(2) { // rows 9..11; row 10, column 2
			copy(b[data.ShardHeaderSize+4*(4+1):], []byte{0, 0, 0x80, 0x7f})
		}
		require.NoError(t, os.WriteFile(filepath.Join(damaged, e.Name()), b, 0o644))
	}

	d5 := filepath.Join(dir, "d5.csv")
	writeData(t, d5, 4, 5)
	d5shards := filepath.Join(dir, "d5shards")
	r, err := data.OpenCSVRows(d5, data.CSVOptions{Label: data.LabelByName("y")})
	require.NoError(t, err)
	_, err = data.ConvertToShards(d5shards, r, "", 0)
	require.NoError(t, err)
	require.NoError(t, r.Close())

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"truncated npy", []string{"-data", truncated}, []string{truncated, "truncated data"}},
		{"npy with trailing bytes", []string{"-data", long}, []string{long, "trailing data", "after the last row (11)"}},
		{"nan csv", []string{"-data", nan, "-label-col", "y"}, []string{nan, "line 10", "column 2", "not finite"}},
		{"damaged shard", []string{"-data", damaged}, []string{damaged, "row 10", "column 2", "not finite"}},
		{"shards of D 5", []string{"-data", d5shards}, []string{d5shards, "D = 5", "expects D = 4"}},
		{"csv with an unnamed label column", []string{"-data", csvPath}, []string{csvPath, "D = 5", "name it with -label-col"}},
	}
	for _, c := range cases {
		for _, format := range []string{"csv", "npy"} {
			for _, chunk := range []string{"1", "4", "4096"} {
				msg := c.name + " " + format + " chunk " + chunk
				out := filepath.Join(dir, "none")
				args := append([]string{"-checkpoint", ckpt, "-out", out, "-device", "cpu", "-format", format, "-chunk", chunk}, c.args...)
				code, _, stderr := runCmd(args...)
				require.Equal(t, 1, code, "%s: %s", msg, stderr)
				for _, w := range c.want {
					require.Contains(t, stderr, w, msg)
				}
				_, err := os.Stat(out)
				require.True(t, os.IsNotExist(err), "%s: an output folder after a failure", msg)

				// over earlier outputs: they stay as they were, no temporary file beside
				old := filepath.Join(dir, "old-"+format)
				code, _, stderr = runCmd("-checkpoint", ckpt, "-out", old, "-device", "cpu", "-format", format, "-data", npy)
				require.Equal(t, 0, code, stderr)
				before := inMemoryOutputs(t, ckpt, x, n, format)
				args = append([]string{"-checkpoint", ckpt, "-out", old, "-device", "cpu", "-format", format, "-chunk", chunk}, c.args...)
				code, _, stderr = runCmd(args...)
				require.Equal(t, 1, code, "%s: %s", msg, stderr)
				requireOutputs(t, old, before, msg+" (over earlier outputs)")
			}
		}
	}
}

// TestAssignChunkFlag: -chunk must be at least 1.
func TestAssignChunkFlag(t *testing.T) {
	for _, c := range []string{"0", "-3"} {
		code, _, stderr := runCmd("-checkpoint", "x", "-data", "y.csv", "-out", "o", "-chunk", c)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "-chunk "+c+", want >= 1")
	}
}

// TestAssignScores: with labels (a CSV label column, a shard folder converted from it,
// an NPY file with -labels) assign prints the clustering scores of metrics.Evaluate on
// the model's log-odds; without labels it prints none.
func TestAssignScores(t *testing.T) {
	f := newFixture(t)
	dir, ckpt, csvPath, x, npy, idx, shards := f.dir, f.ckpt, f.csv, f.x, f.npy, f.idx, f.shards
	const n = fixtureRows
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 3 // writeData's label column
	}
	labelsPath := filepath.Join(dir, "labels.npy")
	require.NoError(t, data.SaveNPYInt(labelsPath, labels))

	p, err := predict.Load(engine.NewCPU(), ckpt)
	require.NoError(t, err)
	r, err := p.Run(x, n)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	score, err := metrics.LogOdds(r.Logits, p.Config().K)
	require.NoError(t, err)
	s, err := metrics.Evaluate(r.Clusters, labels, metrics.Ranking{LogOdds: score, Post: r.Post}, p.Config().K)
	require.NoError(t, err)
	want := "scores on the 11 labelled rows: " + s.String() + "\n" +
		report.FormatSummary(report.Summary{Usage: s.Usage, Labels: s.Contingency})
	require.Contains(t, want, "classes ", "the clusters' main classes follow the scores")

	for _, c := range []struct {
		name   string
		args   []string
		scored bool
	}{
		{"csv", []string{"-data", csvPath, "-label-col", "y"}, true},
		{"shards", []string{"-data", shards}, true},
		{"npy -labels", []string{"-data", npy, "-labels", labelsPath}, true},
		{"npy", []string{"-data", npy}, false},
		{"idx", []string{"-data", idx}, false},
	} {
		args := append([]string{"-checkpoint", ckpt, "-out", filepath.Join(dir, "out-"+c.name), "-device", "cpu"}, c.args...)
		code, stdout, stderr := runCmd(args...)
		require.Equal(t, 0, code, "%s: %s", c.name, stderr)
		scoresPath := filepath.Join(dir, "out-"+c.name, ScoresFile)
		if c.scored {
			require.Contains(t, stdout, want, c.name)
			raw, err := os.ReadFile(scoresPath)
			require.NoError(t, err, c.name)
			var got scores
			require.NoError(t, json.Unmarshal(raw, &got), c.name)
			assert.Equal(t, n, got.Rows, c.name)
			require.NotNil(t, got.ACCHungarian, c.name)
			assert.Equal(t, s.ACCHungarian, *got.ACCHungarian, c.name)
			require.NotNil(t, got.NMI, c.name)
			assert.Equal(t, s.NMI, *got.NMI, c.name)
			assert.Equal(t, s.Contingency, got.Contingency, c.name)
		} else {
			require.NotContains(t, stdout, "scores", c.name)
			assert.NoFileExists(t, scoresPath, c.name)
		}
	}

	// Unlabelled data over a labelled run's outputs: its scores go.
	code, _, stderr := runCmd("-checkpoint", ckpt, "-out", filepath.Join(dir, "out-csv"), "-device", "cpu", "-data", npy)
	require.Equal(t, 0, code, stderr)
	assert.NoFileExists(t, filepath.Join(dir, "out-csv", ScoresFile))

	code, _, stderr = runCmd("-checkpoint", ckpt, "-out", filepath.Join(dir, "bad"), "-data", csvPath, "-labels", labelsPath)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "-labels applies to an IDX or NPY -data file only")
	short := filepath.Join(dir, "short.npy")
	require.NoError(t, data.SaveNPYInt(short, labels[:5]))
	code, _, stderr = runCmd("-checkpoint", ckpt, "-out", filepath.Join(dir, "bad"), "-data", npy, "-labels", short)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "short.npy")
}
