//go:build !unix

package data

import (
	"os"
	"time"
)

// mapRegion reads the shard with ReadAt where there is no mmap: every row read is a
// system call.
func mapRegion(f *os.File, size int64) (shardRegion, error) { return fileRegion{f}, nil }

// fileID would identify a file; where there is no inode, links are not detected.
type fileID struct{}

// idOf reports no identity.
func idOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }

// processAlive cannot ask about pid here: a temporary folder counts as a live
// writer's until it is staleAge old.
func processAlive(pid int, path string) bool {
	st, err := os.Stat(path)
	return err == nil && time.Since(st.ModTime()) < staleAge
}
