package scaling_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ironflow/scaling"
)

func signable() *scaling.Plan {
	return &scaling.Plan{Version: scaling.PlanVersion, Operation: "scale.Replicas", Summary: "3 -> 5",
		Steps: []scaling.Step{{Action: "helm upgrade", After: "5"}}, Fingerprint: scaling.Fingerprint{"rev": "1"},
		Spec: json.RawMessage(`{"request": {"replicas": 5}}`)}
}

// TestASignedPlanVerifiesOnlyAsSigned: a plan signed by an approver
// verifies after storage; any edit, an unknown key or no signature does
// not.
func TestASignedPlanVerifiesOnlyAsSigned(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	verifier := scaling.Ed25519Verifier{"alice": pub}

	plan := signable()
	require.ErrorIs(t, plan.VerifySignatures(verifier), scaling.ErrSignature, "unsigned")
	require.NoError(t, plan.Sign(scaling.Ed25519Signer{KeyID: "alice", Key: priv}))
	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	stored, err := scaling.Decode(raw)
	require.NoError(t, err)
	require.NoError(t, stored.VerifySignatures(verifier), "a stored signed plan verifies")
	d1, err := plan.Digest()
	require.NoError(t, err)
	d2, err := stored.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, d2, "storage does not change the digest")
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	reordered, err := json.MarshalIndent(m, "", "  ") // keys sorted, spaced: as a jsonb column gives it back
	require.NoError(t, err)
	again, err := scaling.Decode(reordered)
	require.NoError(t, err)
	require.NoError(t, again.VerifySignatures(verifier), "a store that reorders keys keeps the signature valid")

	stored.Steps[0].After = "50"
	var sigErr *scaling.SignatureError
	require.ErrorAs(t, stored.VerifySignatures(verifier), &sigErr, "an edited plan")
	assert.Contains(t, sigErr.Reasons[0], "does not match")

	forged := signable()
	require.NoError(t, forged.Sign(scaling.Ed25519Signer{KeyID: "alice", Key: otherPriv}))
	assert.ErrorIs(t, forged.VerifySignatures(verifier), scaling.ErrSignature, "signed with another key under alice's name")
	mallory := signable()
	require.NoError(t, mallory.Sign(scaling.Ed25519Signer{KeyID: "mallory", Key: otherPriv}))
	assert.ErrorIs(t, mallory.VerifySignatures(verifier), scaling.ErrSignature, "an unknown key")
}

func TestHMACSignatures(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	plan := signable()
	require.NoError(t, plan.Sign(scaling.HMACSigner{KeyID: "ci", Key: key}))
	require.NoError(t, plan.VerifySignatures(scaling.HMACVerifier{"ci": key}))
	assert.ErrorIs(t, plan.VerifySignatures(scaling.HMACVerifier{"ci": []byte("another key of at least 32 bytes!!")}), scaling.ErrSignature)
	assert.ErrorIs(t, plan.VerifySignatures(scaling.Ed25519Verifier{}), scaling.ErrSignature, "another algorithm")
	assert.ErrorIs(t, signable().Sign(scaling.HMACSigner{KeyID: "ci", Key: []byte("short")}), scaling.ErrInvalidInput)
}
