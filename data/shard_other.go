//go:build !unix

package data

import "os"

// mapRegion reads the shard with ReadAt where there is no mmap: every row read is a
// system call.
func mapRegion(f *os.File, size int64) (shardRegion, error) { return fileRegion{f}, nil }

// fileID would identify a file; where there is no inode, links are not detected.
type fileID struct{}

// idOf reports no identity.
func idOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }
