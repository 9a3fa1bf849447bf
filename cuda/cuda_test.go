package cuda

import (
	"math"
	"testing"
)

func TestArgPacking(t *testing.T) {
	if got := F32(1.5); uint64(got) != uint64(math.Float32bits(1.5)) {
		t.Errorf("F32(1.5) = %#x: the float's bits belong in the low 4 bytes, zeros above", uint64(got))
	}
	if got := F32(float32(math.Copysign(0, -1))); uint64(got) != 0x80000000 {
		t.Errorf("F32(-0) = %#x", uint64(got))
	}
	if got := I64(-2); uint64(got) != 0xfffffffffffffffe {
		t.Errorf("I64(-2) = %#x", uint64(got))
	}
	if got := U64(1 << 63); uint64(got) != 1<<63 {
		t.Errorf("U64 = %#x", uint64(got))
	}
	if got := Ptr(0x1234); uint64(got) != 0x1234 {
		t.Errorf("Ptr = %#x", uint64(got))
	}
}

func TestBytesAndDims(t *testing.T) {
	b := Bytes([]float32{1, 2})
	if len(b) != 8 || b[3] != 0x3f || b[7] != 0x40 {
		t.Errorf("Bytes = % x", b)
	}
	if Bytes([]uint32(nil)) != nil {
		t.Errorf("Bytes(nil) != nil")
	}
	if n := (Dim3{X: 4}).Count(); n != 4 {
		t.Errorf("Dim3{X:4}.Count() = %d", n)
	}
	if s := (Dim3{X: 2, Y: 3}).String(); s != "(2,3,1)" {
		t.Errorf("String = %s", s)
	}
	if p := DevicePtr(100).Offset(-4); p != 96 {
		t.Errorf("Offset = %d", p)
	}
}
