package cpu

// The engine's fixed reduction orders. Every float sum in a kernel uses one of these,
// and kernels/gm_reduce.cuh implements the same orders on the GPU, so that a sum has
// the same bits on both sides whatever the launch shape (DETERMINISM.md, rule 9).

// WarpLanes is the number of lanes of a Sum32 reduction (one CUDA warp).
const WarpLanes = 32

// BlockThreads is the number of threads of a Sum256 reduction (one CUDA block of 8
// warps). Kernels that use gm_block_sum256 are launched with exactly this block size.
const BlockThreads = 256

// Sum32 returns sum_{i<n} f(i) in the warp order of gm_warp_sum32:
//   - lane l (0..31) accumulates f(l), f(l+32), f(l+64), ... in increasing i,
//     starting from +0 (acc = acc + f(i));
//   - the 32 partials are combined by a butterfly over lane offsets 16, 8, 4, 2, 1:
//     v[l] = v[l] + v[l^off] (every lane ends with the same value; IEEE addition is
//     commutative, so v[l]+v[l^off] and v[l^off]+v[l] have the same bits).
//
// n = 0 returns +0.
func Sum32(n int, f func(i int) float32) float32 {
	var v [WarpLanes]float32
	for i := 0; i < n; i++ {
		v[i%WarpLanes] += f(i)
	}
	return butterfly32(&v)
}

// butterfly32 combines 32 lane partials in the order of a __shfl_xor_sync butterfly
// over offsets 16, 8, 4, 2, 1 and returns lane 0's result.
func butterfly32(v *[WarpLanes]float32) float32 {
	for off := WarpLanes / 2; off >= 1; off /= 2 {
		var w [WarpLanes]float32
		for l := 0; l < WarpLanes; l++ {
			w[l] = v[l] + v[l^off]
		}
		*v = w
	}
	return v[0]
}

// Sum256 returns sum_{i<n} f(i) in the block order of gm_block_sum256:
//   - thread t (0..255) accumulates f(t), f(t+256), ... in increasing i from +0;
//   - each warp w (threads 32w..32w+31) combines its 32 partials by the Sum32
//     butterfly;
//   - warp 0 then holds the 8 warp results in lanes 0..7 and +0 in lanes 8..31 and
//     combines them by the same butterfly.
//
// n = 0 returns +0.
func Sum256(n int, f func(i int) float32) float32 {
	var t [BlockThreads]float32
	for i := 0; i < n; i++ {
		t[i%BlockThreads] += f(i)
	}
	var lanes [WarpLanes]float32
	for w := 0; w < BlockThreads/WarpLanes; w++ {
		var v [WarpLanes]float32
		copy(v[:], t[w*WarpLanes:(w+1)*WarpLanes])
		lanes[w] = butterfly32(&v)
	}
	return butterfly32(&lanes)
}
