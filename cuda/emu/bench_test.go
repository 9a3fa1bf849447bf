package emu

import (
	"math/rand"
	"testing"
	"time"

	"github.com/gmvae/gmvae/cuda"
)

// BenchmarkInterpreter measures thread-instructions per second on one core (Workers:
// 1) for a float-heavy grid-stride kernel (fx_fops: rounding-mode arithmetic, loads,
// stores) and a barrier-heavy block reduction (fx_block_sum), and reports them as
// Minst/s.
func BenchmarkInterpreter(b *testing.B) {
	for _, c := range []struct {
		name string
		run  func(b *testing.B, d *Device, m *Module)
	}{
		{"fops", func(b *testing.B, d *Device, m *Module) {
			const n = 8192
			r := rand.New(rand.NewSource(1))
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			pa := upload(b, d, x)
			out := zeros[float32](b, d, 16*n)
			f := fn(b, m, "fx_fops")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustLaunch(b, d, f, d1(8), d1(128), 0, cuda.Ptr(pa), cuda.Ptr(pa), cuda.Ptr(pa), cuda.Ptr(out), cuda.I64(n))
			}
		}},
		{"rowdot", func(b *testing.B, d *Device, m *Module) {
			const n, dim = 256, 200
			r := rand.New(rand.NewSource(1))
			x := make([]float32, n*dim)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			px, pw := upload(b, d, x), upload(b, d, x[:dim])
			out := zeros[float32](b, d, n)
			f := fn(b, m, "fx_rowdot")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustLaunch(b, d, f, d1(16), d1(128), 0, cuda.Ptr(px), cuda.Ptr(pw), cuda.Ptr(out), cuda.I64(n), cuda.I64(dim))
			}
		}},
		{"block_sum", func(b *testing.B, d *Device, m *Module) {
			const nb, bs = 64, 256
			x := make([]float32, nb*bs)
			pa := upload(b, d, x)
			out := zeros[float32](b, d, nb)
			f := fn(b, m, "fx_block_sum")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustLaunch(b, d, f, d1(nb), d1(bs), 4*bs, cuda.Ptr(pa), cuda.Ptr(out))
			}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			d, m := fixtures(b)
			d.opts.Workers = 1
			start := time.Now()
			c.run(b, d, m)
			st := d.Stats()
			b.ReportMetric(float64(st.ThreadInstructions)/time.Since(start).Seconds()/1e6, "Minst/s")
		})
	}
}
