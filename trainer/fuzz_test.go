package trainer

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/gmvae"
)

// FuzzSettings: any JSON as a run's configuration (a -config file, a run folder's
// config.json, a checkpoint's model_config and train_config) decodes and settles, or
// fails with an error; never a panic. A configuration that settles builds no model
// here (sizes may be huge), but settles again to itself (Settle is idempotent).
//
// fuzz-execs: 30000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzSettings(f *testing.F) {
	for _, s := range []string{
		`{"model":{"model":"dilokthanakul","k":10},"train":{"epochs":2}}`,
		`{"model":{"model":"vade","d":784,"hidden":[500,500,2000]},"train":{"schedule":"step","lr_step":10}}`,
		`{"model":{"model":"shu","gumbel":true,"tau":0.5},"train":{"tau_decay":0.01,"tau_min":0.4}}`,
		`{"model":{"model":"gmm","k":3,"input":{"shift":[1,2],"scale":[0.5,0]}}}`,
		`{"model":{"model":"kmeans","restarts":-1}}`,
		`{"model":{"lv_min":1e40,"lv_max":-1}}`,
		`{}`, `[]`, `{"model":{"hidden":[0]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s Settings
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		if m, err := json.Marshal(s.Model); err == nil {
			_, _ = gmvae.DecodeConfig(m)
		}
		settled, err := s.Settle()
		if err != nil {
			return
		}
		again, err := settled.Settle()
		require.NoError(t, err, "a settled configuration does not settle again:\n%s", raw)
		a, _ := json.Marshal(settled)
		b, _ := json.Marshal(again)
		require.Equal(t, string(a), string(b), "Settle is not idempotent: settled once, then twice")
	})
}
