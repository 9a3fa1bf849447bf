package layers

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/gmvae/gmvae/"

// TestNoUpwardImports runs `go list` over the module (default build and -tags cuda,mpi:
// the tagged files import too) and fails on any import of a package of the same or a
// higher layer, and on any package missing from Layers.
func TestNoUpwardImports(t *testing.T) {
	layer := map[string]int{}
	for i, l := range Layers {
		for _, p := range l {
			_, dup := layer[p]
			require.False(t, dup, "package %s is in Layers twice", p)
			layer[p] = i
		}
	}
	for _, tags := range []string{"", "cuda,mpi"} {
		args := []string{"list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		out, err := exec.Command("go", append(args, "../../...")...).Output()
		require.NoError(t, err, "go list (tags %q)", tags)
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			pkg := strings.TrimPrefix(f[0], module)
			lp, ok := layer[pkg]
			if !assert.True(t, ok, "package %s is not in internal/layers.Layers: give it its layer", pkg) {
				continue
			}
			for _, imp := range f[1:] {
				if !strings.HasPrefix(imp, module) {
					continue
				}
				dep := strings.TrimPrefix(imp, module)
				ld, ok := layer[dep]
				if !assert.True(t, ok, "%s imports %s, which is not in Layers", pkg, dep) {
					continue
				}
				what := "upward"
				if ld == lp {
					what = "sideways"
				}
				assert.Less(t, ld, lp, "%s (layer %d) imports %s (layer %d): an import %s (tags %q)", pkg, lp, dep, ld, what, tags)
			}
		}
	}
}

// TestCPUTwinsOnlyInBackends: engine/cpu is imported (tests included) by the CPU
// backend and the kernel tests only; everything else calls the typed ops.
func TestCPUTwinsOnlyInBackends(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}", "../../...").Output()
	require.NoError(t, err)
	allowed := map[string]bool{"engine": true, "engine/cpu": true, "engine/kerneltest": true}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			if imp == module+"engine/cpu" {
				assert.True(t, allowed[pkg], "%s imports engine/cpu: call package ops instead", pkg)
			}
		}
	}
}

// TestREADMELayout: every folder of the layer table is in README.md's layout table
// (as `folder/`, or under its parent's row), so the document follows the code.
func TestREADMELayout(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(raw)
	i := strings.Index(readme, "## Layout")
	require.GreaterOrEqual(t, i, 0, "README.md has no Layout section")
	section := readme[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for _, l := range Layers {
		for _, p := range l {
			if strings.Contains(p, "/internal/") || strings.HasPrefix(p, "internal/") && strings.Count(p, "/") > 1 {
				continue // internal helpers of a package
			}
			found := false
			for q := p; q != "." && !found; q = filepath.Dir(q) {
				found = strings.Contains(section, "`"+q+"/`")
			}
			assert.True(t, found, "package %s: no row of README.md's Layout names %s/ or a folder above it", p, p)
		}
	}
}
