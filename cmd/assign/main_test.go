package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/predict"
	"github.com/gmvae/gmvae/trainer"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// writeCheckpoint saves a freshly initialised tiny model (D=4, K=3, Dz=2, MaxBatch 3)
// in dir and returns the checkpoint's path.
func writeCheckpoint(t *testing.T, dir string) string {
	return writeModel(t, dir, gmvae.Config{Model: "dilokthanakul", D: 4, K: 3, Dz: 2, Dw: 2, Hidden: []int{6}, MaxBatch: 3, Seed: 3})
}

// writeModel saves a freshly initialised model of cfg in dir and returns the
// checkpoint's path.
func writeModel(t *testing.T, dir string, cfg gmvae.Config) string {
	b := engine.NewCPU()
	m, err := gmvae.New(b, cfg)
	require.NoError(t, err)
	defer m.Release()
	path := filepath.Join(dir, checkpoint.File)
	require.NoError(t, trainer.SaveModel(path, b, m))
	return path
}

// writeData writes n rows of d features in [0,1] plus a label column "y" and returns
// the path and the features.
func writeData(t *testing.T, path string, n, d int) []float32 {
	var sb strings.Builder
	for j := 0; j < d; j++ {
		fmt.Fprintf(&sb, "f%d,", j)
	}
	sb.WriteString("y\n")
	x := make([]float32, n*d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			v := float32((i*7+j*3)%10) / 10
			x[i*d+j] = v
			fmt.Fprintf(&sb, "%g,", v)
		}
		fmt.Fprintf(&sb, "%d\n", i%3)
	}
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
	return x
}

func readCSV(t *testing.T, path string) (head []string, rows [][]string) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	head = strings.Split(lines[0], ",")
	for _, l := range lines[1:] {
		rows = append(rows, strings.Split(l, ","))
	}
	return head, rows
}

// TestAssignEndToEnd runs the command on a 7-row CSV (MaxBatch 3: batches of 3, 3, 1)
// writing CSV and NPY files, and checks them against Predictor.PredictSlice bit for bit.
func TestAssignEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ckpt := writeCheckpoint(t, dir)
	csv := filepath.Join(dir, "new.csv")
	x := writeData(t, csv, 7, 4)

	p, err := predict.Load(engine.NewCPU(), ckpt)
	require.NoError(t, err)
	wantC, wantP, wantZ, err := p.PredictSlice(x, 7)
	require.NoError(t, err)
	require.NoError(t, p.Close())

	outCSV := filepath.Join(dir, "out-csv")
	code, stdout, stderr := runCmd("-checkpoint", ckpt, "-data", csv, "-label-col", "y", "-out", outCSV, "-device", "cpu")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "assigned 7 rows")
	head, rows := readCSV(t, filepath.Join(outCSV, "clusters.csv"))
	require.Equal(t, []string{"cluster"}, head)
	require.Len(t, rows, 7)
	for i, r := range rows {
		require.Equal(t, strconv.Itoa(wantC[i]), r[0])
	}
	for _, f := range []struct {
		name string
		head []string
		want []float32
		cols int
	}{{"posteriors.csv", []string{"p0", "p1", "p2"}, wantP, 3}, {"latent.csv", []string{"z0", "z1"}, wantZ, 2}} {
		head, rows := readCSV(t, filepath.Join(outCSV, f.name))
		require.Equal(t, f.head, head, f.name)
		require.Len(t, rows, 7, f.name)
		for i, r := range rows {
			require.Len(t, r, f.cols)
			for j, s := range r {
				v, err := strconv.ParseFloat(s, 32)
				require.NoError(t, err)
				require.Equal(t, math.Float32bits(f.want[i*f.cols+j]), math.Float32bits(float32(v)), "%s[%d,%d]", f.name, i, j)
			}
		}
	}

	outNPY := filepath.Join(dir, "out-npy")
	code, _, stderr = runCmd("-checkpoint", ckpt, "-data", csv, "-label-col", "-1", "-out", outNPY, "-device", "cpu", "-format", "npy")
	require.Equal(t, 0, code, stderr)
	cl, err := data.ReadNPY(filepath.Join(outNPY, "clusters.npy"))
	require.NoError(t, err)
	require.Equal(t, []int{7}, cl.Shape)
	got := cl.Float32s()
	for i := range wantC {
		require.Equal(t, float32(wantC[i]), got[i])
	}
	for _, f := range []struct {
		name string
		want []float32
		cols int
	}{{"posteriors.npy", wantP, 3}, {"latent.npy", wantZ, 2}} {
		a, err := data.ReadNPY(filepath.Join(outNPY, f.name))
		require.NoError(t, err)
		require.Equal(t, []int{7, f.cols}, a.Shape, f.name)
		require.Equal(t, f.want, a.Float32s(), f.name)
	}
}

// TestAssignErrors: usage errors (exit 2) and a bad checkpoint path or a data file of
// another D (exit 1), each message naming what is wrong.
func TestAssignErrors(t *testing.T) {
	dir := t.TempDir()
	ckpt := writeCheckpoint(t, dir)
	csv5 := filepath.Join(dir, "d5.csv")
	writeData(t, csv5, 4, 5)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"-data", csv5, "-out", out}, 2, []string{"-checkpoint is required"}},
		{[]string{"-checkpoint", ckpt, "-data", csv5}, 2, []string{"-out is required"}},
		{[]string{"-checkpoint", ckpt, "-out", out}, 2, []string{"-data FILE, -mnist-test or -mnist-all"}},
		{[]string{"-checkpoint", ckpt, "-data", csv5, "-mnist-test", "-out", out}, 2, []string{"exclude each other"}},
		{[]string{"-checkpoint", ckpt, "-data", csv5, "-mnist-all", "-out", out}, 2, []string{"exclude each other"}},
		{[]string{"-checkpoint", ckpt, "-mnist-test", "-mnist-all", "-out", out}, 2, []string{"exclude each other"}},
		{[]string{"-checkpoint", ckpt, "-data", csv5, "-out", out, "-format", "json"}, 2, []string{`-format "json"`}},
		{[]string{"-checkpoint", ckpt, "-data", csv5, "-out", out, "-device", "tpu"}, 2, []string{`unknown device "tpu"`}},
		{[]string{"-checkpoint", filepath.Join(dir, "nope.safetensors"), "-data", csv5, "-label-col", "y", "-out", out, "-device", "cpu"}, 1, []string{"nope.safetensors"}},
		{[]string{"-checkpoint", ckpt, "-data", csv5, "-label-col", "y", "-out", out, "-device", "cpu"}, 1, []string{"D = 5", "expects D = 4", "d5.csv", ckpt}},
	} {
		code, _, stderr := runCmd(c.args...)
		require.Equal(t, c.code, code, "%v: %s", c.args, stderr)
		for _, w := range c.want {
			require.Contains(t, stderr, w, "%v", c.args)
		}
	}
	_, err := os.Stat(out)
	require.True(t, os.IsNotExist(err), "no output folder after failures")
}

// TestAssignMNISTAll: -mnist-all assigns the 70,000 MNIST images, training set first,
// and scores them against their labels; -mnist-test the 10,000 of the test set, which
// are the last 10,000 rows of the first.
func TestAssignMNISTAll(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and assigns all of MNIST")
	}
	dir := t.TempDir()
	ckpt := writeModel(t, dir, gmvae.Config{Model: "dilokthanakul", D: 784, K: 10, Dz: 2, Dw: 2, Hidden: []int{4}, MaxBatch: 100, Seed: 3})
	rows := func(flag string) []string {
		out := filepath.Join(dir, flag)
		code, stdout, stderr := runCmd("-checkpoint", ckpt, flag, "-out", out, "-device", "cpu")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "scores on the", flag)
		raw, err := os.ReadFile(filepath.Join(out, "clusters.csv"))
		require.NoError(t, err)
		return strings.Split(strings.TrimSpace(string(raw)), "\n")[1:]
	}
	all, test := rows("-mnist-all"), rows("-mnist-test")
	require.Len(t, all, 70000)
	require.Len(t, test, 10000)
	require.Equal(t, test, all[60000:], "the test set's clusters are the last 10,000 of -mnist-all's")
}
