package cpu

import (
	"math"

	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/kernels/philox"
)

// AugmentAffine is the twin of augment_affine (kernels/augment.cu, where the formulas
// are): y, the n images of x (h x w, row-major) each turned by a random angle of up to
// maxTurns turns and shifted by up to maxShift pixels, with bilinear interpolation and 0
// outside the image; image r's parameters come from Philox block r of (seed, stream).
// y must not alias x.
func AugmentAffine(x, y []float32, n, h, w int, maxShift, maxTurns float32, seed, stream uint64) {
	hw := h * w
	cx := float32(float32(w-1) * 0.5)
	cy := float32(float32(h-1) * 0.5)
	pixel := func(img []float32, yi, xi float32) float32 {
		if !(yi >= 0 && yi < float32(h) && xi >= 0 && xi < float32(w)) {
			return 0
		}
		return img[int(yi)*w+int(xi)]
	}
	ewParallel(n, max(1, ewGrain/max(hw, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b := philox.Block(seed, stream, uint64(r))
			u0, u1, u2 := philox.Uniform(b[0]), philox.Uniform(b[1]), philox.Uniform(b[2])
			turns := float32(float32(float32(2*u0)-1) * maxTurns)
			tx := float32(float32(float32(2*u1)-1) * maxShift)
			ty := float32(float32(float32(2*u2)-1) * maxShift)
			s, c := fmath.Sincos2Pi(turns)
			img := x[r*hw : (r+1)*hw]
			out := y[r*hw : (r+1)*hw]
			for i := 0; i < h; i++ {
				dy := float32(float32(float32(i)-cy) - ty)
				for j := 0; j < w; j++ {
					dx := float32(float32(float32(j)-cx) - tx)
					sx := float32(fmath.FMA(c, dx, float32(s*dy)) + cx)
					sy := float32(fmath.FMA(c, dy, -float32(s*dx)) + cy)
					x0 := float32(math.Floor(float64(sx)))
					y0 := float32(math.Floor(float64(sy)))
					fx := float32(sx - x0)
					fy := float32(sy - y0)
					p00 := pixel(img, y0, x0)
					p01 := pixel(img, y0, float32(x0+1))
					p10 := pixel(img, float32(y0+1), x0)
					p11 := pixel(img, float32(y0+1), float32(x0+1))
					top := fmath.FMA(fx, p01, float32(float32(1-fx)*p00))
					bot := fmath.FMA(fx, p11, float32(float32(1-fx)*p10))
					out[i*w+j] = fmath.FMA(fy, bot, float32(float32(1-fy)*top))
				}
			}
		}
	})
}
