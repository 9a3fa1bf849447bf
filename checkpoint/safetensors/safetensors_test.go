package safetensors

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	ts := []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, {Name: "s", Shape: []int{}, Data: []float32{9}}, {Name: "e", Shape: []int{0}, Data: nil}}
	require.NoError(t, Write(&buf, ts, map[string]string{"k": "v"}))
	got, meta, err := Decode(buf.Bytes(), "mem")
	require.NoError(t, err)
	require.Equal(t, "v", meta["k"])
	require.Len(t, got, 3)
	require.Equal(t, "a", got[0].Name)
	require.Equal(t, []int{2, 2}, got[0].Shape)
	require.Equal(t, "s", got[1].Name)
	require.Equal(t, float32(9), got[1].Data[0])
}

func TestWriteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"shape mismatch", []Tensor{{Name: "a", Shape: []int{3}, Data: []float32{1}}}, "a"},
		{"duplicate name", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, "given twice"},
		{"empty name", []Tensor{{Name: "", Shape: []int{1}, Data: []float32{1}}}, "invalid tensor name"},
		{"metadata name", []Tensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}, "invalid tensor name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.ts, nil)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
