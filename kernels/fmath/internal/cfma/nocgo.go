//go:build !cgo

package cfma

// Available reports whether the C implementations are built in: not without cgo, and
// the functions below panic; tests skip when Available is false.
const Available = false

// Fmaf is unavailable without cgo.
func Fmaf(x, y, z, out []float32) { panic("cfma: built without cgo") }

// Math is unavailable without cgo.
func Math(fn int, x, y []float32) { panic("cfma: built without cgo") }

// Activate is unavailable without cgo.
func Activate(act int, x, y, g []float32) { panic("cfma: built without cgo") }
