package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/gmvae/gmvae/internal/atomicfile"
)

// A shard set replaces an earlier one in its folder only when it is complete: the
// writer fills a temporary folder beside the destination, in the same parent (so that
// a rename moves it), named
//
//	.<folder>.shards-tmp-<pid>-<random>
//
// and Close swaps it with the destination: one renameat2(RENAME_EXCHANGE) on Linux,
// else two renames (the destination aside under another such name, then the new set
// in). The earlier set, now under the temporary name, is removed last. A failed or
// interrupted conversion leaves the destination as it was; the next writer for the
// same destination removes the temporary folders a dead process left (by that name
// pattern, and only the shard files, manifest and writer temporaries in them).

// tmpFolderPattern matches the temporary folders of writers for the destination
// named base, capturing the writer's process id.
func tmpFolderPattern(base string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `\.shards-tmp-([0-9]+)-[0-9a-z]+$`)
}

// newTmpFolder makes an empty temporary folder for the destination dir in its parent.
func newTmpFolder(dir string, perm os.FileMode) (string, error) {
	parent, base := filepath.Split(dir)
	for range 100 {
		name := fmt.Sprintf(".%s.shards-tmp-%d-%s", base, os.Getpid(), strconv.FormatUint(rand.Uint64(), 36))
		p := filepath.Join(parent, name)
		err := os.Mkdir(p, perm)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("data: shard writer: no free temporary folder name beside %s", dir)
}

// removeStaleTmpFolders removes the temporary folders that writers for dir left in
// its parent when their process died. While dir itself is missing, a temporary folder
// holding a manifest may be the only complete set (a crash between the two renames of
// the fallback swap), and is left alone.
func removeStaleTmpFolders(dir string) {
	parent, base := filepath.Split(dir)
	ents, err := os.ReadDir(filepath.Clean(parent))
	if err != nil {
		return
	}
	_, dirErr := os.Lstat(dir)
	pat := tmpFolderPattern(base)
	for _, e := range ents {
		m := pat.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		p := filepath.Join(parent, e.Name())
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid, p) {
			continue
		}
		if dirErr != nil {
			if _, err := os.Stat(filepath.Join(p, ManifestFile)); err == nil {
				continue
			}
		}
		removeShardFolder(p)
	}
}

// removeShardFolder removes a folder of shard files: the manifest first (so that no
// manifest ever lists a removed shard), then the shard files and writer temporaries,
// then the folder if that emptied it. Other files are left, and so is the folder.
func removeShardFolder(p string) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return
	}
	os.Remove(filepath.Join(p, ManifestFile))
	for _, e := range ents {
		if isShardFileName(e.Name()) && e.Type().IsRegular() {
			os.Remove(filepath.Join(p, e.Name()))
		}
	}
	os.Remove(p) // fails, harmlessly, if something else is in it
}

// exchangeFolders is exchange; tests replace it to take the two-rename path.
var exchangeFolders = exchange

// swapIn puts the complete set in tmp at dir and removes the set dir held, if any.
func swapIn(tmp, dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
		return syncParent(dir)
	}
	if err := exchangeFolders(tmp, dir); err == nil {
		// tmp now holds the earlier set.
		if err := syncParent(dir); err != nil {
			return err
		}
		removeShardFolder(tmp)
		return nil
	}
	old, err := newTmpFolder(dir, 0o700)
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil { // only the name is wanted: rename needs it free
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir) // put the earlier set back
		return err
	}
	if err := syncParent(dir); err != nil {
		return err
	}
	removeShardFolder(old)
	return nil
}

// syncParent makes a rename in dir's parent durable.
func syncParent(dir string) error { return atomicfile.SyncDir(filepath.Dir(dir)) }

// staleAge is how old a temporary folder must be to count as left by a dead process
// where there is no way to ask whether the process lives.
const staleAge = 24 * time.Hour
