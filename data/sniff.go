package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Every reader opens its input through openInput and decompress, so that all of them
// treat gzip, byte-order marks, folders and files of another format alike, and say
// what they found when it is not what they read.

// openInput opens path for a reader of format ("csv", "idx", "npy"). A folder is an
// error that says it is not a shard folder either (a shard folder has a manifest.json
// and is opened with OpenSharded): the commands hand a folder without a manifest to
// the file readers.
func openInput(path, format string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, notShardFolder(format, path, path)
	}
	return f, nil
}

// notShardFolder is the error for a folder without a manifest.json, read as format.
func notShardFolder(format, path, dir string) error {
	return &FormatError{Format: format, Path: path,
		Msg: fmt.Sprintf("no %s in %s: not a shard folder (make one with `go run ./cmd/convert -in FILE -out %s`)", ManifestFile, dir, dir)}
}

// decompress returns a peekable reader of r's content, decompressed when r starts with
// gzip's magic (0x1f 0x8b, which no IDX, NPY or text file starts with), and whether
// it was.
func decompress(r io.Reader) (*bufio.Reader, bool, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, err
		}
		return bufio.NewReaderSize(zr, 1<<16), true, nil
	}
	return br, false, nil
}

// Formats the readers detect from a file's first bytes (detectFormat).
const (
	formatCSV = "csv"
	formatIDX = "idx"
	formatNPY = "npy"
)

// detectFormat says what the first bytes of a (decompressed) file are: formatIDX,
// formatNPY or formatCSV (text), and, for anything else, "" and a description of what
// was found. It is lenient where the readers are strict: a file that starts like an
// NPY file (a prefix of its magic) or an IDX file (two zero bytes, which no text has)
// is one, and its reader says what is wrong with it.
func detectFormat(head []byte) (format, what string) {
	switch {
	case len(head) == 0:
		return "", "an empty file"
	case bytes.HasPrefix(head, []byte(npyMagic)) || bytes.HasPrefix([]byte(npyMagic), head):
		return formatNPY, "NPY data"
	case len(head) >= 2 && head[0] == 0 && head[1] == 0 || len(head) == 1 && head[0] == 0:
		return formatIDX, "IDX data"
	case bytes.HasPrefix(head, []byte(shardMagic)):
		return "", "a shard file (give the shard folder, which holds manifest.json)"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "", "a ZIP archive (an .npz? save each array with numpy.save as .npy)"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "", "gzip data inside gzip"
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return "", "UTF-16 text (save it as UTF-8)"
	case bytes.HasPrefix(head, []byte("\x89PNG")):
		return "", "a PNG image"
	case bytes.IndexByte(head, 0) < 0:
		// Text in any 8-bit encoding: a header in Latin-1 is still CSV.
		return formatCSV, "text (CSV?)"
	}
	return "", "binary data of an unknown format"
}

// sniffHead is how many bytes detectFormat looks at.
const sniffHead = 512

// describe says what the stream br (gzip-compressed when gz) holds, for the error of
// a reader that expected format and found something else: "; found NPY data
// (gzip-compressed), not IDX". It is "" when the bytes look like format after all (the
// reader's own message then says what is wrong).
func describe(br *bufio.Reader, gz bool, format string) string {
	head, _ := br.Peek(sniffHead)
	got, what := detectFormat(head)
	if got == format {
		return ""
	}
	if gz {
		what += " (gzip-compressed)"
	}
	return fmt.Sprintf("; found %s, not %s", what, strings.ToUpper(format))
}

// DetectFormat reads the first bytes of the file at path, decompressed when it is
// gzip, and returns the format they show: "csv" (text), "idx" or "npy" — the Format
// of the readers' errors — whatever the file's name. A file of any other kind (an
// empty file, a ZIP archive, UTF-16 text, a folder without manifest.json, ...) is an
// error that says what was found and what is expected.
func DetectFormat(path string) (string, error) {
	f, err := openInput(path, "data")
	if err != nil {
		return "", err
	}
	defer f.Close()
	br, gz, err := decompress(f)
	if err != nil {
		return "", &FormatError{Format: "data", Path: path, Msg: "reading gzip header", Err: err}
	}
	head, err := br.Peek(sniffHead)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", &FormatError{Format: "data", Path: path, Msg: "reading the first bytes", Err: err}
	}
	format, what := detectFormat(head)
	if format == "" {
		if gz {
			what += " (gzip-compressed)"
		}
		return "", &FormatError{Format: "data", Path: path,
			Msg: fmt.Sprintf("found %s, expected CSV text, IDX or NPY data (gzip-compressed or not)", what)}
	}
	return format, nil
}

// checkExampleSize refuses data whose examples hold no value (a dimension after the
// first is 0): D = 0 is no data set, and its N rows of nothing would be streamed one
// by one without reading a byte (N up to 2^32: a hang, found by FuzzIDX). CSV refuses
// the same ("no feature columns").
func checkExampleSize(format, path string, dims []int, what string) error {
	for _, d := range dims[min(1, len(dims)):] {
		if d == 0 {
			return &FormatError{Format: format, Path: path,
				Msg: fmt.Sprintf("%s %v: examples of 0 values, expected every dimension after the first >= 1", what, dims)}
		}
	}
	return nil
}
