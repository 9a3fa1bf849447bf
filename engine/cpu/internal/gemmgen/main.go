// Command gemmgen generates engine/cpu's matrix-product assembly (gemm_amd64.s and
// its Go declarations gemm_stub_amd64.go) with avo: a 6x16 AVX2+FMA microkernel, a
// 6x32 AVX-512 one, and the packing routines. Run it through
// `go generate ./engine/cpu/` (see the go:generate line in engine/cpu/gemm_amd64.go).
//
// The microkernel keeps the bit-exact contract of the gemm kernels (DETERMINISM.md,
// rule 10): every output element is one fma chain over k in increasing order, each
// step one VFMADD231PS lane (a float32 fused multiply-add with a single rounding,
// exactly fmaf), starting from +0 or from the element's partial chain stored by the
// previous call. Vectors run along the output's columns, never along k.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Microkernel shape: mr rows by nr = 16 columns (two YMM registers per row; the
// AVX-512 kernel takes two panels, 32 columns), 12 accumulators + 2 B registers + 1
// broadcast = 15 of the 16 YMM registers.
const (
	mr     = 6
	nr     = 16
	unroll = 4
)

func main() {
	kernel(false)
	kernel(true)
	packRows()
	packCols()
	fmaPeak(false)
	fmaPeak(true)
	Generate()
}

// Flags of gemmKernel6x16.
const (
	flagLoad   = 1 // start the chains from the tile at src instead of +0
	flagBias   = 2 // after the k steps: acc = acc + bias[j]
	flagOldDst = 4 // then: acc = dst_old[i][j] + acc
)

// kernel emits gemmKernel6x16 (AVX2: 16 columns = two YMM registers per row) and,
// with wide, gemmKernel6x32 (AVX-512: 32 columns = two ZMM registers per row, taken
// from two 16-column panels pstride bytes apart):
//
//	for k := 0; k < kc; k++ {
//		for i := 0; i < 6; i++ {
//			for j := 0; j < cols; j++ { acc[i][j] = fma(a[i,k], b[k,j], acc[i][j]) }
//		}
//	}
//
// with a[i,k] at a + i*rsa + k*csa (bytes), b's rows ldb bytes apart (64 when packed),
// acc starting from +0 or from the tile at src (row stride lds bytes), then the
// optional epilogue additions in the contract's order, stored to the tile at dst (row
// stride ldd bytes). Both use 12 accumulators, 2 registers of b and 1 broadcast.
func kernel(wide bool) {
	name, cols, vec, vbytes := "gemmKernel6x16", 16, YMM, 32
	sig := "func(kc int, a *float32, rsa, csa int, b *float32, ldb int, src *float32, lds int, dst *float32, ldd int, bias *float32, flags int)"
	req := "Requires AVX2 and FMA."
	if wide {
		name, cols, vec, vbytes = "gemmKernel6x32", 32, ZMM, 64
		sig = "func(kc int, a *float32, rsa, csa int, b *float32, ldb, pstride int, src *float32, lds int, dst *float32, ldd int, bias *float32, flags int)"
		req = "Columns 16..31 of b are pstride bytes after columns 0..15. Requires AVX-512F."
	}
	TEXT(name, NOSPLIT, sig)
	Doc(fmt.Sprintf("%s runs kc steps of k of the fma chains of a 6x%d tile of C:", name, cols),
		"acc[i][j] = fma(a[i*rsa + k*csa], b[k*ldb + j], acc[i][j]) for k = 0..kc-1 in order",
		"(strides in bytes), from +0 or (flags&1) from the tile at src (rows lds bytes apart);",
		"then acc = acc + bias[j] (flags&2), then acc = dst[i][j] + acc (flags&4), and stores",
		"acc to the tile at dst (rows ldd bytes apart). "+req)
	kc := Load(Param("kc"), GP64())
	a0 := Load(Param("a"), GP64())
	rs := Load(Param("rsa"), GP64())
	cs := Load(Param("csa"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	var ps Register
	if wide {
		ps = Load(Param("pstride"), GP64())
	}
	flags := Load(Param("flags"), GP64())
	// bHalf addresses the second register's columns of b's current row.
	bHalf := func() Mem {
		if wide {
			return Mem{Base: b, Index: ps, Scale: 1}
		}
		return Mem{Base: b, Disp: vbytes}
	}

	// Rows 0..2 are a0, a0+rs, a0+2rs; rows 3..5 the same from a3 = a0 + 3rs.
	a3 := GP64()
	LEAQ(Mem{Base: a0, Index: rs, Scale: 2}, a3)
	ADDQ(rs, a3)
	rowA := func(i int) Mem {
		base := a0
		if i >= 3 {
			base = a3
		}
		switch i % 3 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: rs, Scale: 1}
		}
		return Mem{Base: base, Index: rs, Scale: 2}
	}

	var acc [mr][2]VecVirtual
	for i := range acc {
		acc[i][0], acc[i][1] = vec(), vec()
	}

	Comment("Start the chains from +0, or from the tile at src.")
	TESTQ(U32(flagLoad), flags)
	JNZ(LabelRef("loadsrc"))
	zero := VXORPS
	if wide {
		zero = VPXORD // VXORPS on ZMM registers would need AVX512DQ
	}
	for i := range acc {
		zero(acc[i][0], acc[i][0], acc[i][0])
		zero(acc[i][1], acc[i][1], acc[i][1])
	}
	JMP(LabelRef("start"))
	Label("loadsrc")
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	for i := range acc {
		VMOVUPS(Mem{Base: src}, acc[i][0])
		VMOVUPS(Mem{Base: src, Disp: vbytes}, acc[i][1])
		if i < mr-1 {
			ADDQ(lds, src)
		}
	}
	Label("start")

	step := func() {
		b0, b1 := vec(), vec()
		VMOVUPS(Mem{Base: b}, b0)
		VMOVUPS(bHalf(), b1)
		for i := 0; i < mr; i++ {
			t := vec()
			VBROADCASTSS(rowA(i), t)
			VFMADD231PS(b0, t, acc[i][0])
			VFMADD231PS(b1, t, acc[i][1])
		}
		ADDQ(cs, a0)
		ADDQ(cs, a3)
		ADDQ(ldb, b)
	}

	Comment(fmt.Sprintf("Main loop: %d steps of k per iteration, in order.", unroll))
	Label("loop")
	CMPQ(kc, U32(unroll))
	JL(LabelRef("tail"))
	for u := 0; u < unroll; u++ {
		step()
	}
	SUBQ(U32(unroll), kc)
	JMP(LabelRef("loop"))

	Comment("Remaining steps, one at a time.")
	Label("tail")
	TESTQ(kc, kc)
	JZ(LabelRef("epilogue"))
	step()
	DECQ(kc)
	JMP(LabelRef("tail"))

	Label("epilogue")
	Comment("acc = acc + bias (one rounding per element, as the kernels' add.rn).")
	TESTQ(U32(flagBias), flags)
	JZ(LabelRef("nobias"))
	bias := Load(Param("bias"), GP64())
	bv0, bv1 := vec(), vec()
	VMOVUPS(Mem{Base: bias}, bv0)
	VMOVUPS(Mem{Base: bias, Disp: vbytes}, bv1)
	for i := range acc {
		VADDPS(bv0, acc[i][0], acc[i][0])
		VADDPS(bv1, acc[i][1], acc[i][1])
	}
	Label("nobias")
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	Comment("acc = dst_old + acc.")
	TESTQ(U32(flagOldDst), flags)
	JZ(LabelRef("store"))
	dt := GP64()
	MOVQ(dst, dt)
	for i := range acc {
		VADDPS(Mem{Base: dt}, acc[i][0], acc[i][0])
		VADDPS(Mem{Base: dt, Disp: vbytes}, acc[i][1], acc[i][1])
		if i < mr-1 {
			ADDQ(ldd, dt)
		}
	}
	Label("store")
	for i := range acc {
		VMOVUPS(acc[i][0], Mem{Base: dst})
		VMOVUPS(acc[i][1], Mem{Base: dst, Disp: vbytes})
		if i < mr-1 {
			ADDQ(ldd, dst)
		}
	}
	VZEROUPPER()
	RET()
}

// packRows emits gemmPackRows16: for np panels q of 16 columns of a row-major matrix,
// dst[q*dstride/4 + 16*k + j] = src[k*ld/4 + 16*q + j] (ld, dstride in bytes), k < kc,
// panel by panel. Callers pass a few rows (kc = 8) at a time so that the source rows
// stay in L1 while every panel gets its contiguous kc*64 bytes.
func packRows() {
	TEXT("gemmPackRows16", NOSPLIT, "func(kc int, src *float32, ld int, dst *float32, np int, dstride int)")
	Doc("gemmPackRows16 packs np >= 1 panels of 16 columns of kc rows (ld bytes apart at",
		"src) into dst: panel q's row k goes to dst + q*dstride + 64k bytes. Requires AVX.")
	kc := Load(Param("kc"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	np := Load(Param("np"), GP64())
	dstride := Load(Param("dstride"), GP64())
	TESTQ(kc, kc)
	JZ(LabelRef("done"))
	Label("panel")
	s, d, n := GP64(), GP64(), GP64()
	MOVQ(src, s)
	MOVQ(dst, d)
	MOVQ(kc, n)
	Label("row")
	y0, y1 := YMM(), YMM()
	VMOVUPS(Mem{Base: s}, y0)
	VMOVUPS(Mem{Base: s, Disp: 32}, y1)
	VMOVUPS(y0, Mem{Base: d})
	VMOVUPS(y1, Mem{Base: d, Disp: 32})
	ADDQ(ld, s)
	ADDQ(U32(nr*4), d)
	DECQ(n)
	JNZ(LabelRef("row"))
	ADDQ(U32(nr*4), src)
	ADDQ(dstride, dst)
	DECQ(np)
	JNZ(LabelRef("panel"))
	Label("done")
	VZEROUPPER()
	RET()
}

// packCols emits gemmPackCols16: dst[16*k + j] = src[j*ld + k] (ld in bytes) for
// k < kc (kc a multiple of 8), j < 16: 16 rows of a row-major matrix, transposed into
// a panel, by 8x8 register transposes.
func packCols() {
	TEXT("gemmPackCols16", NOSPLIT, "func(kc int, src *float32, ld int, dst *float32)")
	Doc("gemmPackCols16 transposes 16 rows (ld bytes apart at src) of kc floats into",
		"dst (dst[16*k + j] = src[j*ld/4 + k]); kc must be a multiple of 8. Requires AVX.")
	kc := Load(Param("kc"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	ld3 := GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	// Row bases: p[q] = src + 4q*ld holds rows 4q .. 4q+3.
	var p [4]Register
	p[0] = src
	for q := 1; q < 4; q++ {
		p[q] = GP64()
		LEAQ(Mem{Base: p[q-1], Index: ld, Scale: 4}, p[q])
	}
	row := func(r int) Mem {
		base := p[r/4]
		switch r % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ld, Scale: 2}
		}
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
	Label("loop")
	TESTQ(kc, kc)
	JZ(LabelRef("done"))
	for h := 0; h < 2; h++ {
		var r, t, s [8]VecVirtual
		for i := 0; i < 8; i++ {
			r[i] = YMM()
			VMOVUPS(row(8*h+i), r[i])
		}
		// t: interleave pairs of rows; s: gather 4-row columns per 128-bit lane.
		for i := 0; i < 8; i += 2 {
			t[i], t[i+1] = YMM(), YMM()
			VUNPCKLPS(r[i+1], r[i], t[i])
			VUNPCKHPS(r[i+1], r[i], t[i+1])
		}
		for g := 0; g < 8; g += 4 {
			for q := 0; q < 2; q++ {
				s[g+2*q], s[g+2*q+1] = YMM(), YMM()
				VSHUFPS(U8(0x44), t[g+2+q], t[g+q], s[g+2*q])
				VSHUFPS(U8(0xEE), t[g+2+q], t[g+q], s[g+2*q+1])
			}
		}
		// s[0..3] hold columns 0..3 (low lane) and 4..7 (high lane) of rows 0..3,
		// s[4..7] the same for rows 4..7.
		for col := 0; col < 8; col++ {
			o := YMM()
			if col < 4 {
				VPERM2F128(U8(0x20), s[4+col], s[col], o)
			} else {
				VPERM2F128(U8(0x31), s[col], s[col-4], o)
			}
			VMOVUPS(o, Mem{Base: dst, Disp: col*nr*4 + h*32})
		}
	}
	for q := 0; q < 4; q++ {
		ADDQ(U32(32), p[q])
	}
	ADDQ(U32(8*nr*4), dst)
	SUBQ(U32(8), kc)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// fmaPeak emits fmaPeak8 (AVX2) and, with wide, fmaPeak16 (AVX-512): n iterations of 12
// independent VFMADD231PS chains on registers, nothing loaded or stored in the loop,
// the sum of the chains stored to out at the end (so that the work is not dead). It
// measures the core's FMA throughput, the ceiling of the matrix products' microkernel:
// 12 chains cover the FMA latency of the cores this runs on (4 cycles x 2 ports = 8).
func fmaPeak(wide bool) {
	name, vec, lanes := "fmaPeak8", YMM, 8
	if wide {
		name, vec, lanes = "fmaPeak16", ZMM, 16
	}
	TEXT(name, NOSPLIT, "func(n int, out *float32)")
	req := "Requires AVX2 and FMA."
	if wide {
		req = "Requires AVX-512F."
	}
	Doc(fmt.Sprintf("%s runs n iterations of 12 independent %d-lane fused multiply-adds on", name, lanes),
		"registers and stores their sum's first lane to out: 24 x lanes flops an iteration. "+req)
	n := Load(Param("n"), GP64())
	out := Load(Param("out"), GP64())
	var acc [12]VecVirtual
	for i := range acc {
		acc[i] = vec()
		VXORPS(acc[i], acc[i], acc[i])
	}
	a, b := vec(), vec()
	VXORPS(a, a, a)
	VXORPS(b, b, b)
	TESTQ(n, n)
	JZ(LabelRef("sum"))
	Label("loop")
	for i := range acc {
		VFMADD231PS(a, b, acc[i])
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("sum")
	for i := 1; i < len(acc); i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	if wide {
		VMOVSS(acc[0].AsX(), Mem{Base: out})
	} else {
		VMOVSS(acc[0].AsX(), Mem{Base: out})
	}
	VZEROUPPER()
	RET()
}
