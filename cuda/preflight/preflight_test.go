package preflight

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	selfPath = "github.com/gmvae/gmvae/cuda/preflight"
	cuPath   = "gorgonia.org/cu"
	demoPath = "github.com/gmvae/gmvae/cuda/preflight/internal/demo"
)

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command to build with")
	}
	return p
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command(goTool(t), append([]string{"list"}, args...)...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		require.NoError(t, err, "go list %v\n%s", args, ee.Stderr)
	}
	require.NoError(t, err)
	return strings.Fields(string(out))
}

// TestDepsSubsetOfCu guards the init order (package doc, "Init order"): every
// package this one depends on is also a dependency of gorgonia.org/cu, and this
// package's path sorts first, so its init runs before gorgonia.org/cu's.
func TestDepsSubsetOfCu(t *testing.T) {
	require.Less(t, selfPath, cuPath)
	cuDeps := map[string]bool{}
	for _, p := range goList(t, "-deps", cuPath) {
		cuDeps[p] = true
	}
	require.True(t, cuDeps["os"], "go list of gorgonia.org/cu looks wrong")
	for _, p := range goList(t, "-deps", selfPath) {
		if p == selfPath {
			continue
		}
		assert.Truef(t, cuDeps[p], "preflight depends on %s, which gorgonia.org/cu does not import: gorgonia.org/cu's init could run first", p)
	}
}

// TestNoUntaggedImporter: a package built without the cuda tag must not import
// this one (its init would run the check, and exit, in CPU-only programs).
func TestNoUntaggedImporter(t *testing.T) {
	lines, err := exec.Command(goTool(t), "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/gmvae/gmvae/...").Output()
	require.NoError(t, err)
	require.Contains(t, string(lines), selfPath+" ", "go list did not list this package")
	for _, line := range strings.Split(string(lines), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[min(1, len(f)):] {
			assert.NotEqualf(t, selfPath, imp, "%s imports preflight without the cuda tag", f[0])
		}
	}
}

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
		hint string
	}{
		{&Error{Call: "dlopen(libcuda.so.1)", Detail: "libcuda.so.1: cannot open shared object file: No such file or directory"},
			"no usable CUDA GPU: dlopen(libcuda.so.1): libcuda.so.1: cannot open shared object file: No such file or directory",
			"NVIDIA container toolkit"},
		{&Error{Call: "cuInit(0)", Code: 100, Name: "CUDA_ERROR_NO_DEVICE", Detail: "no CUDA-capable device is detected"},
			"no usable CUDA GPU: cuInit(0): CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)",
			"No NVIDIA GPU is visible"},
		{&Error{Call: "cuInit(0)", Code: 35, Name: "CUDA_ERROR_INSUFFICIENT_DRIVER"},
			"no usable CUDA GPU: cuInit(0): CUDA_ERROR_INSUFFICIENT_DRIVER",
			"too old"},
		{&Error{Call: "cuDeviceGetCount", Detail: "the driver reports no CUDA device"},
			"no usable CUDA GPU: cuDeviceGetCount: the driver reports no CUDA device",
			"No NVIDIA GPU is visible"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.err.Error())
		assert.True(t, errors.Is(c.err, ErrUnavailable))
		msg := Message(c.err)
		assert.True(t, strings.HasPrefix(msg, "gmvae: this program was built with CUDA support (-tags cuda)"), msg)
		assert.Contains(t, msg, c.want)
		assert.Contains(t, msg, c.hint)
		assert.Contains(t, msg, "-device cpu")
		assert.Contains(t, msg, "-device emu")
		assert.True(t, strings.HasSuffix(msg, "\n"))
	}
	// Wrapped (as driver.Open returns it), the hint is still found.
	wrapped := Message(&wrapErr{&Error{Call: "dlopen(libcuda.so.1)", Detail: "x"}})
	assert.Contains(t, wrapped, "NVIDIA container toolkit")
}

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "cuda: Open(0): " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }

// TestCheckHere runs the check on this machine: it either finds a GPU or says
// which step failed.
func TestCheckHere(t *testing.T) {
	err := Check()
	assert.Equal(t, Err() == nil, err == nil, "the start-up check and a new one disagree: %v vs %v", Err(), err)
	if err == nil {
		t.Log("a CUDA GPU answers here")
		return
	}
	var pe *Error
	require.True(t, errors.As(err, &pe))
	assert.Contains(t, []string{"dlopen(libcuda.so.1)", "dlsym(cuInit)", "dlsym(cuDeviceGetCount)", "cuInit(0)", "cuDeviceGetCount", "cgo"}, pe.Call)
	if pe.Call == "cuInit(0)" {
		assert.True(t, strings.HasPrefix(pe.Name, "CUDA_ERROR_"), pe.Name)
		assert.NotZero(t, pe.Code)
	}
	t.Logf("no GPU here: %v", err)
}

func TestInTestBinary(t *testing.T) {
	assert.True(t, inTestBinary(), "os.Args = %q", os.Args)
}

// buildDemo builds the cuda-tagged demo program (it imports cuda/driver and so
// gorgonia.org/cu). It skips when this machine cannot build the tagged code (no
// cuda.h or libcuda.so).
func buildDemo(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the CUDA build is set up for Linux only")
	}
	bin := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command(goTool(t), "build", "-tags", "cuda", "-o", bin, demoPath).CombinedOutput()
	if err != nil {
		s := string(out)
		if strings.Contains(s, "cuda.h") || strings.Contains(s, "-lcuda") || strings.Contains(s, "cgo") {
			t.Skipf("cannot build with -tags cuda here:\n%s", s)
		}
		require.NoError(t, err, "go build -tags cuda %s\n%s", demoPath, s)
	}
	return bin
}

func runDemo(t *testing.T, bin string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvOptional+"=") && !strings.HasPrefix(kv, "GODEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}

// TestDemoExits3 runs a cuda-tagged program: without a GPU it must stop in
// preflight's init with ExitCode and this package's message, never with
// gorgonia.org/cu's ("Error in initialization ...", status 1).
func TestDemoExits3(t *testing.T) {
	bin := buildDemo(t)
	t.Setenv(EnvOptional, "") // Message's last line depends on it
	stdout, stderr, code := runDemo(t, bin)
	if err := Check(); err == nil {
		assert.Equal(t, 0, code, "stderr:\n%s", stderr)
		assert.Contains(t, stdout, "device 0: ")
		return
	}
	t.Logf("exit status %d, stderr:\n%s", code, stderr)
	assert.Equal(t, ExitCode, code)
	assert.Empty(t, stdout)
	assert.Equal(t, Message(Check()), stderr, "the message printed is not preflight's")
	assert.NotContains(t, stderr, "Error in initialization")
}

// TestInitOrderTrace runs the tagged program with GODEBUG=inittrace=1 (and
// GMVAE_CUDA_OPTIONAL=1, so that preflight's init returns and is traced): preflight
// must be initialised before gorgonia.org/cu, and gorgonia.org/cu's init must not
// exit the process (the driver's cuInit shim).
func TestInitOrderTrace(t *testing.T) {
	bin := buildDemo(t)
	stdout, stderr, code := runDemo(t, bin, EnvOptional+"=1", "GODEBUG=inittrace=1")
	pos := map[string]int{}
	n := 0
	for _, line := range strings.Split(stderr, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "init" && strings.HasPrefix(f[2], "@") {
			pos[f[1]] = n
			n++
		}
	}
	require.Contains(t, pos, selfPath, "stderr:\n%s", stderr)
	require.Contains(t, pos, cuPath, "gorgonia.org/cu's init did not complete; stderr:\n%s", stderr)
	require.Contains(t, pos, "github.com/gmvae/gmvae/cuda/driver")
	assert.Less(t, pos[selfPath], pos[cuPath], "preflight must be initialised before gorgonia.org/cu")
	assert.Less(t, pos[cuPath], pos["github.com/gmvae/gmvae/cuda/driver"])
	if Check() == nil {
		assert.Equal(t, 0, code, "stderr:\n%s", stderr)
		assert.Contains(t, stdout, "device 0: ")
		return
	}
	// main ran: driver.Open returned the preflight error.
	assert.Equal(t, ExitCode, code)
	assert.Contains(t, stderr, "cuda: Open(0): "+Check().Error())
	assert.NotContains(t, stderr, "Error in initialization")
	assert.NotContains(t, stderr, "set "+EnvOptional+"=1")
}
