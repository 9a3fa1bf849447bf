// Package safetensors reads and writes the safetensors container
// (https://github.com/huggingface/safetensors) for float32 tensors: the format of this
// engine's checkpoints, which PyTorch users can open with safetensors.torch.load_file.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// The safetensors format (https://github.com/huggingface/safetensors), as this package
// writes and reads it:
//
//	bytes 0..7   N, the header's length, unsigned 64-bit little-endian
//	bytes 8..8+N the header: a JSON object (UTF-8, padded with spaces to a multiple
//	             of 8 bytes) with one entry per tensor,
//	               "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
//	             and an optional "__metadata__" entry, an object of string values
//	the rest     the data: every tensor's values, little-endian float32, row-major,
//	             at [begin, end) counted from the end of the header
//
// The reader is strict: only F32, offsets contiguous from 0 without holes or overlaps,
// each tensor's byte count equal to 4 * the product of its shape, and the file exactly
// as long as the header says. Any other file is an error naming it.

// maxHeader bounds the JSON header (the reference implementation's limit).
const maxHeader = 100 << 20

// Tensor is one float32 tensor of a safetensors file.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

type entry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Write writes tensors (in this order in the data section) and the
// metadata map (may be nil) to w in the safetensors format.
func Write(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		n := 1
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= s
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = entry{Dtype: "F32", Shape: shape, DataOffsets: [2]int64{off, off + 4*int64(n)}}
		off += 4 * int64(n)
	}
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var pre [8]byte
	binary.LittleEndian.PutUint64(pre[:], uint64(len(h)))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// ReadFile reads a safetensors file of F32 tensors; see Decode.
func ReadFile(path string) ([]Tensor, map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Decode(raw, path)
}

// Decode parses the bytes of a safetensors file (name is used in errors)
// and returns its tensors in data order and its metadata (never nil).
func Decode(raw []byte, name string) ([]Tensor, map[string]string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("safetensors: %s: %s", name, fmt.Sprintf(format, a...))
	}
	if len(raw) < 8 {
		return nil, nil, bad("truncated: %d bytes, a file has at least the 8-byte header length", len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	if hlen > maxHeader {
		return nil, nil, bad("header length %d is over the limit of %d bytes (not a safetensors file?)", hlen, maxHeader)
	}
	if uint64(len(raw)-8) < hlen {
		return nil, nil, bad("truncated: header of %d bytes announced, %d bytes follow", hlen, len(raw)-8)
	}
	hdr := raw[8 : 8+hlen]
	data := raw[8+hlen:]
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&fields); err != nil {
		return nil, nil, bad("header is not a JSON object: %v", err)
	}
	if rest := bytes.TrimRight(hdr[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		return nil, nil, bad("header has %d bytes after its JSON object", len(rest))
	}
	meta := map[string]string{}
	type ent struct {
		name string
		entry
	}
	var ents []ent
	for k, v := range fields {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, bad("__metadata__ is not an object of strings: %v", err)
			}
			continue
		}
		var e entry
		d := json.NewDecoder(bytes.NewReader(v))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, nil, bad("tensor %q: bad header entry: %v", k, err)
		}
		if e.Dtype != "F32" {
			return nil, nil, bad("tensor %q: dtype %q, this reader takes F32 only", k, e.Dtype)
		}
		ents = append(ents, ent{k, e})
	}
	sort.Slice(ents, func(i, j int) bool {
		if ents[i].DataOffsets[0] != ents[j].DataOffsets[0] {
			return ents[i].DataOffsets[0] < ents[j].DataOffsets[0]
		}
		return ents[i].DataOffsets[1] < ents[j].DataOffsets[1]
	})
	var pos int64
	out := make([]Tensor, 0, len(ents))
	for _, e := range ents {
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b != pos {
			return nil, nil, bad("tensor %q: data starts at byte %d, expected %d (holes and overlaps are not allowed)", e.name, b, pos)
		}
		n := int64(1)
		for _, s := range e.Shape {
			if s < 0 {
				return nil, nil, bad("tensor %q: negative dimension in shape %v", e.name, e.Shape)
			}
			n *= int64(s)
		}
		if en-b != 4*n {
			return nil, nil, bad("tensor %q: shape %v needs %d bytes, data_offsets [%d, %d] give %d", e.name, e.Shape, 4*n, b, en, en-b)
		}
		if en > int64(len(data)) {
			return nil, nil, bad("truncated: tensor %q ends at data byte %d, the file has %d data bytes", e.name, en, len(data))
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[b+4*int64(i):]))
		}
		out = append(out, Tensor{Name: e.name, Shape: e.Shape, Data: v})
		pos = en
	}
	if pos != int64(len(data)) {
		return nil, nil, bad("%d bytes of data after the last tensor (expected the file to end at byte %d)", int64(len(data))-pos, 8+int64(hlen)+pos)
	}
	return out, meta, nil
}
