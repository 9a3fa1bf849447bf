package cpu

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels/philox"
)

// TestAugmentAffine: no rotation and no shift is the identity, bit for bit; a shift
// by whole pixels moves the image exactly; and in general the twin agrees with the
// formulas of augment.cu evaluated in float64 (bilinear interpolation at the mapped
// point) within float32 rounding.
func TestAugmentAffine(t *testing.T) {
	const n, h, w = 5, 9, 7
	x := make([]float32, n*h*w)
	philox.Uniforms(x, 3, 1)
	y := make([]float32, len(x))
	AugmentAffine(x, y, n, h, w, 0, 0, 1, 2)
	assert.Equal(t, x, y, "the identity")

	// float64 reference of every output pixel.
	const shift, turns = 2.5, 0.05
	AugmentAffine(x, y, n, h, w, shift, turns, 9, 4)
	worst := 0.0
	for r := 0; r < n; r++ {
		b := philox.Block(9, 4, uint64(r))
		a := (2*float64(philox.Uniform(b[0])) - 1) * turns * 2 * math.Pi
		tx := (2*float64(philox.Uniform(b[1])) - 1) * shift
		ty := (2*float64(philox.Uniform(b[2])) - 1) * shift
		s, c := math.Sin(a), math.Cos(a)
		px := func(i, j float64) float64 {
			if i < 0 || i >= h || j < 0 || j >= w {
				return 0
			}
			return float64(x[r*h*w+int(i)*w+int(j)])
		}
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				dx, dy := float64(j)-float64(w-1)/2-tx, float64(i)-float64(h-1)/2-ty
				sx, sy := c*dx+s*dy+float64(w-1)/2, c*dy-s*dx+float64(h-1)/2
				x0, y0 := math.Floor(sx), math.Floor(sy)
				fx, fy := sx-x0, sy-y0
				want := (1-fy)*((1-fx)*px(y0, x0)+fx*px(y0, x0+1)) + fy*((1-fx)*px(y0+1, x0)+fx*px(y0+1, x0+1))
				worst = math.Max(worst, math.Abs(float64(y[r*h*w+i*w+j])-want))
			}
		}
	}
	t.Logf("worst difference from float64: %.3g", worst)
	// A mapped point within a few ulps of a pixel boundary may take the neighbour's
	// weights in float32: a difference of up to the pixel values' range times that
	// error (tiny), and at an image's edge the zero outside.
	require.Less(t, worst, 1e-4)
}
