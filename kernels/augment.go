package kernels

// The augment family (augment.cu): a random rotation and shift per image, bilinear
// interpolation; one work item per output pixel.
func init() {
	register(Kernel{
		Name: "augment_affine", Module: "augment",
		Params: []Param{buf("x", "n*h*w"), buf("y", "n*h*w"), i64("n"), i64("h"), i64("w"),
			f32("max_shift"), f32("max_turns"), u64("seed"), u64("stream")},
		Threads: "n * h * w",
		Doc:     "y (n, h*w) = the images x turned by up to max_turns and shifted by up to max_shift pixels, uniformly at random per image (Philox block r of (seed, stream)), bilinear, 0 outside; h, w <= AugmentMaxSide",
	})
}

// AugmentMaxSide bounds augment_affine's image sides: its pixel coordinates are
// float32, integral up to 2^24, and the kernel is exact only below that (callers check;
// docs/mutants.md's E20 rests on it).
const AugmentMaxSide = 1 << 24
