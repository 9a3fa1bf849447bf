package cuda

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestArgPacking(t *testing.T) {
	for _, c := range []struct {
		name string
		got  Arg
		want uint64
	}{
		{"F32(1.5): the float's bits belong in the low 4 bytes, zeros above", F32(1.5), uint64(math.Float32bits(1.5))},
		{"F32(-0)", F32(float32(math.Copysign(0, -1))), 0x80000000},
		{"I64(-2)", I64(-2), 0xfffffffffffffffe},
		{"U64(1<<63)", U64(1 << 63), 1 << 63},
		{"Ptr(0x1234)", Ptr(0x1234), 0x1234},
	} {
		assert.Equal(t, c.want, uint64(c.got), c.name)
	}
}

func TestBytesAndDims(t *testing.T) {
	assert.Equal(t, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}, Bytes([]float32{1, 2}), "Bytes([1 2]): little-endian float bits")
	assert.Nil(t, Bytes([]uint32(nil)), "Bytes(nil)")
	assert.Equal(t, 4, (Dim3{X: 4}).Count(), "Dim3{X:4}.Count()")
	assert.Equal(t, "(2,3,1)", (Dim3{X: 2, Y: 3}).String(), "Dim3{X:2,Y:3}.String()")
	assert.Equal(t, DevicePtr(96), DevicePtr(100).Offset(-4), "DevicePtr(100).Offset(-4)")
}
