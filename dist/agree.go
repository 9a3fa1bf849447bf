package dist

import (
	"errors"
	"fmt"
)

// Rank agreement: in a data-parallel run a rank that returns alone leaves the others
// waiting in a collective for ever, so every error a rank meets between collectives is
// agreed on (Agree) before anyone returns, and the error says whether every rank
// reached it with the same message (SameOnEveryRank), so that a launcher's log needs
// it from one rank only.

// ErrOtherRank is wrapped by the error a rank returns when another rank failed (its
// own message is printed by that rank).
var ErrOtherRank = errors.New("train: another rank failed")

// agreed marks an error that every rank returns at the same point (so no rank is left
// in a collective); same: computed from values equal on every rank, so every rank has
// the same message.
type agreed struct {
	error
	same bool
}

func (e agreed) Unwrap() error { return e.error }

// SameOnEveryRank reports whether err was reached by every rank with the same message
// (a divergence, an interruption, settings that differ between ranks).
func SameOnEveryRank(err error) bool {
	var a agreed
	return errors.As(err, &a) && a.same
}

// IsAgreed reports whether every rank returns err (or an error of its own) at this
// point: no rank waits in a collective for this one.
func IsAgreed(err error) bool {
	var a agreed
	return errors.As(err, &a)
}

// Everyone marks err (nil stays nil) as reached by every rank with the same message:
// an error computed from values that are equal on every rank.
func Everyone(err error) error {
	if err == nil {
		return nil
	}
	return agreed{err, true}
}

// AgreedLike marks err as agreed, with the same "same message" flag as other (an
// agreed error it replaces, such as the failure that interrupted a checkpoint).
func AgreedLike(err, other error) error {
	var a agreed
	if errors.As(other, &a) {
		return agreed{err, a.same}
	}
	return err
}

// Agree makes every rank learn whether any rank has an error: an all-reduce of a
// flag, which also waits for every rank, like a barrier. It returns nil when no rank
// has one, else this rank's own error or one wrapping ErrOtherRank, marked as agreed.
// With one rank it returns err as it is.
func Agree(c Comm, err error) error {
	if c.Size() == 1 {
		return err
	}
	flag := []int64{0}
	if err != nil {
		flag[0] = 1
	}
	if cerr := c.AllReduceSum(flag); cerr != nil {
		return errors.Join(err, cerr) // not agreed: the caller aborts
	}
	switch {
	case flag[0] == 0:
		return nil
	case err == nil:
		return agreed{fmt.Errorf("%w (%d of %d ranks failed; see their messages)", ErrOtherRank, flag[0], c.Size()), false}
	}
	return agreed{err, int(flag[0]) == c.Size()}
}

// SameDigest all-gathers every rank's digest and returns, as an error every rank
// reaches with the same message, differ(r) for the first rank r whose digest is not
// rank 0's; nil when all are equal.
func SameDigest(c Comm, digest uint64, differ func(rank int, digest, rank0 uint64) error) error {
	all := make([]int64, c.Size())
	if err := c.AllGather([]int64{int64(digest)}, all); err != nil {
		return err
	}
	for r, d := range all {
		if d != all[0] {
			return Everyone(differ(r, uint64(d), uint64(all[0])))
		}
	}
	return nil
}
