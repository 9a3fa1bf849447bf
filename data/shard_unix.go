//go:build unix

package data

import (
	"errors"
	"os"
	"syscall"
)

// mmapRegion is a shard file mapped read-only into memory.
type mmapRegion struct {
	f *os.File
	b []byte
}

func (r *mmapRegion) bytes(off int64, n int) []byte { return r.b[off : off+int64(n) : off+int64(n)] }

func (r *mmapRegion) close() error {
	err := syscall.Munmap(r.b)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mapRegion maps the size bytes of f read-only (MAP_SHARED: the page cache's pages,
// no copy). The mapping keeps f open until close.
func mapRegion(f *os.File, size int64) (shardRegion, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &mmapRegion{f: f, b: b}, nil
}

// fileID identifies a file on this machine (device and inode), so that one file under
// two names (a hard or symbolic link) is found.
type fileID struct{ dev, ino uint64 }

// idOf returns the identity of the file fi describes.
func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// processAlive reports whether process pid (which named the temporary folder path)
// may still be running: signal 0 reaches it, or it exists but belongs to someone else.
func processAlive(pid int, path string) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
