//go:build !amd64

package cpu

// Off amd64 the elementwise twins run their scalar loops; these stand in for the
// assembly of ew_amd64.s (same signatures as ew_stub_amd64.go) and are never called.

// ewHaveAsm is false: there are no vector kernels here.
const ewHaveAsm = false

func ewNoAsm() { panic("cpu: elementwise vector kernel called without assembly") }

func ewExp8(x *float32, y *float32, n int)      { ewNoAsm() }
func ewLog8(x *float32, y *float32, n int)      { ewNoAsm() }
func ewLog1p8(x *float32, y *float32, n int)    { ewNoAsm() }
func ewTanh8(x *float32, y *float32, n int)     { ewNoAsm() }
func ewSigmoid8(x *float32, y *float32, n int)  { ewNoAsm() }
func ewSoftplus8(x *float32, y *float32, n int) { ewNoAsm() }
func ewGumbel8(u *float32, y *float32, n int)   { ewNoAsm() }
func adamStep8(p *float32, grad *float32, m *float32, v *float32, n int, negLr float32, beta1 float32, beta2 float32, eps float32, wd float32, bc1 float32, bc2 float32, c1 float32, c2 float32, useWd int) {
	ewNoAsm()
}
func bernTerms8(x *float32, l *float32, t *float32, n int)                     { ewNoAsm() }
func bernBwd8(x *float32, l *float32, dl *float32, n int, gr float32, acc int) { ewNoAsm() }
func gaussTerms8(x *float32, mu *float32, lv *float32, t *float32, n int)      { ewNoAsm() }
func gaussBwd8(x *float32, mu *float32, lv *float32, dmu *float32, dlv *float32, n int, gr float32, flags int) {
	ewNoAsm()
}
func reparamZ8(m *float32, lv *float32, eps *float32, z *float32, n int)                 { ewNoAsm() }
func reparamBwdLv8(lv *float32, eps *float32, dz *float32, dlv *float32, n int, acc int) { ewNoAsm() }
func reluFwd8(x *float32, y *float32, n int)                                             { ewNoAsm() }
func reluBwd8(x *float32, dy *float32, dx *float32, n int, acc int)                      { ewNoAsm() }
func philoxUniform8(out *float32, nblk int, key0 uint32, key1 uint32, ctr0 uint32, ctr1 uint32, ctr2 uint32, ctr3 uint32) {
	ewNoAsm()
}
func philoxNormal8(out *float32, nblk int, key0 uint32, key1 uint32, ctr0 uint32, ctr1 uint32, ctr2 uint32, ctr3 uint32) {
	ewNoAsm()
}
func binarize8(p *float32, x *float32, n int)                                       { ewNoAsm() }
func mixTerms8(z *float32, mu *float32, lv *float32, e *float32, t *float32, n int) { ewNoAsm() }
func mixTermsExp8(z *float32, mu *float32, lv *float32, t *float32, n int)          { ewNoAsm() }
func sum32Acc8(t *float32, n int, lanes *float32)                                   { ewNoAsm() }
func actBwdTanh8(src *float32, dy *float32, dx *float32, n int, acc int)            { ewNoAsm() }
func actBwdSigmoid8(src *float32, dy *float32, dx *float32, n int, acc int)         { ewNoAsm() }
func actBwdSoftplus8(src *float32, dy *float32, dx *float32, n int, acc int)        { ewNoAsm() }
func actBwdExp8(src *float32, dy *float32, dx *float32, n int, acc int)             { ewNoAsm() }
func klTerms8(m *float32, s *float32, mu *float32, lv *float32, es *float32, e *float32, t *float32, n int) {
	ewNoAsm()
}
func klTermsExp8(m *float32, s *float32, mu *float32, lv *float32, es *float32, t *float32, n int) {
	ewNoAsm()
}
func mixBwdZ8(z *float32, mu *float32, e *float32, gl *float32, dz *float32, nd int, K int, kstride int, acc int) {
	ewNoAsm()
}
func mixBwdZExp8(z *float32, mu *float32, e *float32, gl *float32, dz *float32, nd int, K int, kstride int, acc int) {
	ewNoAsm()
}
func mixBwdPS8(z *float32, mu *float32, lv *float32, dmu *float32, dlv *float32, nd int, gr float32, flags int) {
	ewNoAsm()
}
func klBwdQ8(m *float32, es *float32, mu *float32, e *float32, gk *float32, dm *float32, ds *float32, nd int, K int, kstride int, flags int) {
	ewNoAsm()
}
func klBwdQExp8(m *float32, es *float32, mu *float32, e *float32, gk *float32, dm *float32, ds *float32, nd int, K int, kstride int, flags int) {
	ewNoAsm()
}
func klBwdPPS8(m *float32, es *float32, mu *float32, lv *float32, dmu *float32, dlv *float32, nd int, gr float32, flags int) {
	ewNoAsm()
}
