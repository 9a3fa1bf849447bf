// Package layers is the repository's layering, bottom up, and the rule that guards it:
// a package imports only packages of lower layers, never one of its own layer or above
// (README.md, "Layout"; shared/design/ARCHITECTURE.md). Its test checks every package
// of the module against Layers with `go list`.
package layers

// Layers are the module's packages (import paths relative to the module), bottom up.
// A package may import packages of earlier layers only. Every package of the module
// must appear here: a new package takes its place in the table before it can land.
var Layers = [][]string{
	// The contract's leaves: the kernel table and PTX, exact float32 FMA, small helpers.
	{"kernels", "internal/f32", "internal/atomicfile", "internal/cli", "internal/field", "kernels/fmath/internal/cfma"},
	// The Go twin of the shared math; the device interface; readers, scores, pictures
	// and the checkpoint container, which need nothing from the engine.
	{"kernels/fmath", "cuda", "cuda/preflight", "data", "metrics", "report", "checkpoint/safetensors"},
	// Philox's Go twin; the devices (emulator, driver after its preflight); the
	// checkpoint format.
	{"kernels/philox", "cuda/emu", "cuda/driver", "checkpoint"},
	// The CPU twins, called only by the CPU backend and the kernel tests; the driver's
	// test helpers.
	{"engine/cpu", "cuda/driver/drivertest"},
	// The backends, memory pool and batch loader.
	{"engine"},
	// The typed ops generated from the kernel table; the kernel comparison suite;
	// test helpers.
	{"ops", "engine/kerneltest", "internal/testutil"},
	// Layers and the optimizer; data parallelism; k-means and the Gaussian mixture on
	// the same ops.
	{"nn", "dist", "cluster"},
	// The models.
	{"gmvae"},
	// The trainer and the predictor.
	{"trainer", "predict"},
	// Commands and code generators.
	{"cmd/train", "cmd/assign", "cmd/convert", "cmd/bench", "cmd/distbench", "kernels/cmd/kernelgen",
		"engine/cpu/internal/ewgen", "engine/cpu/internal/gemmgen", "cuda/preflight/internal/demo", "internal/layers",
		"cluster/internal/cmp"},
}
