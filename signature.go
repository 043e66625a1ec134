package scaling

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSignature: a plan's signatures do not verify (none, none by a known
// key, or one that does not match the plan's content); nothing was read or
// changed.
var ErrSignature = errors.New("scaling: plan signature")

// Signature is one approval of a plan: who (KeyID), how (Algorithm) and the
// signature of the plan's Digest.
type Signature struct {
	KeyID     string `json:"keyID"`
	Algorithm string `json:"algorithm"`
	Value     []byte `json:"value"`
}

// The algorithms of the signers this package provides.
const (
	AlgorithmEd25519    = "ed25519"
	AlgorithmHMACSHA256 = "hmac-sha256"
)

// Digest is the SHA-256 of the plan's content, everything but its
// signatures, in a canonical JSON form, as "sha256:<hex>": what a person
// approved, and what a signature signs. Two plans with the same digest
// show and do the same.
func (p *Plan) Digest() (string, error) {
	c := *p
	c.Signatures = nil
	raw, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("scaling: encoding the plan for its digest: %w", err)
	}
	// Canonical form: decoded and encoded again, so every object's keys are
	// sorted (the spec's too) and numbers keep their text. A store that
	// reorders keys or whitespace (a jsonb column) keeps the digest.
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", fmt.Errorf("scaling: decoding the plan for its digest: %w", err)
	}
	canonical, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("scaling: encoding the plan for its digest: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Signer signs a plan's digest, as an approval system does once a person
// has approved the plan. Keep the key where the approval happens: a plan
// signed by the tool that also applies it proves nothing.
type Signer interface {
	Sign(digest string) (Signature, error)
}

// Verifier checks one signature of a digest; an error means it does not
// verify.
type Verifier interface {
	Verify(digest string, sig Signature) error
}

// Sign appends s's signature of the plan's digest.
func (p *Plan) Sign(s Signer) error {
	d, err := p.Digest()
	if err != nil {
		return err
	}
	sig, err := s.Sign(d)
	if err != nil {
		return fmt.Errorf("scaling: signing the plan: %w", err)
	}
	p.Signatures = append(p.Signatures, sig)
	return nil
}

// SignatureError: no signature of the plan verifies.
type SignatureError struct {
	Operation string
	Digest    string
	// Reasons says, per signature, why it did not verify; empty when the
	// plan has none.
	Reasons []string
}

func (e *SignatureError) Error() string {
	if len(e.Reasons) == 0 {
		return fmt.Sprintf("%s: the plan is not signed, and this client applies only signed plans (digest %s)", e.Operation, e.Digest)
	}
	return fmt.Sprintf("%s: no signature of the plan verifies (digest %s): %v", e.Operation, e.Digest, e.Reasons)
}

// Is reports ErrSignature.
func (e *SignatureError) Is(target error) bool { return target == ErrSignature }

// VerifySignatures returns nil when at least one of the plan's signatures
// verifies with v, else a *SignatureError. A plan edited after signing
// has another digest, so its signatures no longer verify.
func (p *Plan) VerifySignatures(v Verifier) error {
	d, err := p.Digest()
	if err != nil {
		return err
	}
	e := &SignatureError{Operation: p.Operation, Digest: d}
	for _, s := range p.Signatures {
		err := v.Verify(d, s)
		if err == nil {
			return nil
		}
		e.Reasons = append(e.Reasons, s.KeyID+": "+err.Error())
	}
	return e
}

// Ed25519Signer signs with an Ed25519 private key.
type Ed25519Signer struct {
	KeyID string
	Key   ed25519.PrivateKey
}

// Sign implements Signer.
func (s Ed25519Signer) Sign(digest string) (Signature, error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return Signature{}, &InvalidInputError{Field: "Ed25519Signer.Key", Value: len(s.Key), Reason: "is not an Ed25519 private key"}
	}
	return Signature{KeyID: s.KeyID, Algorithm: AlgorithmEd25519, Value: ed25519.Sign(s.Key, []byte(digest))}, nil
}

// Ed25519Verifier verifies with the public keys it knows, by key ID.
type Ed25519Verifier map[string]ed25519.PublicKey

// Verify implements Verifier.
func (v Ed25519Verifier) Verify(digest string, sig Signature) error {
	key, ok := v[sig.KeyID]
	switch {
	case sig.Algorithm != AlgorithmEd25519:
		return fmt.Errorf("algorithm %q, this verifier takes %s", sig.Algorithm, AlgorithmEd25519)
	case !ok:
		return errors.New("unknown key")
	case !ed25519.Verify(key, []byte(digest), sig.Value):
		return errors.New("does not match the plan's content")
	}
	return nil
}

// HMACSigner signs with a shared secret (HMAC-SHA256): simpler to deploy
// than keys, but whoever can verify can also sign.
type HMACSigner struct {
	KeyID string
	Key   []byte
}

// Sign implements Signer.
func (s HMACSigner) Sign(digest string) (Signature, error) {
	if len(s.Key) < 32 {
		return Signature{}, &InvalidInputError{Field: "HMACSigner.Key", Value: len(s.Key), Reason: "must be at least 32 bytes"}
	}
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(digest))
	return Signature{KeyID: s.KeyID, Algorithm: AlgorithmHMACSHA256, Value: m.Sum(nil)}, nil
}

// HMACVerifier verifies with the shared secrets it knows, by key ID.
type HMACVerifier map[string][]byte

// Verify implements Verifier.
func (v HMACVerifier) Verify(digest string, sig Signature) error {
	key, ok := v[sig.KeyID]
	if sig.Algorithm != AlgorithmHMACSHA256 {
		return fmt.Errorf("algorithm %q, this verifier takes %s", sig.Algorithm, AlgorithmHMACSHA256)
	}
	if !ok {
		return errors.New("unknown key")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(digest))
	if !hmac.Equal(m.Sum(nil), sig.Value) {
		return errors.New("does not match the plan's content")
	}
	return nil
}
