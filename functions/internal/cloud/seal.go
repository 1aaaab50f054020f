package cloud

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// StateKeySize is the size of the key that encrypts saved VPN secrets (AES-256).
const StateKeySize = 32

var (
	// ErrNoStateKey: a VPN re-point would save a pre-shared key or AuthKey, and no state
	// key is configured (PPTER_STATE_KEY).
	ErrNoStateKey = errors.New("cloud: no state key (PPTER_STATE_KEY) to encrypt the saved VPN settings")
	// ErrSealed: a saved secret does not decrypt with the configured state key (another
	// key, or the value was moved to another Redis key).
	ErrSealed = errors.New("cloud: a saved VPN secret does not decrypt with the state key")
)

// sealedPrefix marks an encrypted value: base64 of nonce, ciphertext and tag follows.
const sealedPrefix = "ppter-gcm1:"

// StateKey encrypts the secrets of saved VPN settings (PSKs, customer-gateway AuthKeys) with
// AES-256-GCM; the Redis key the settings are saved under is the associated data, so a
// value copied to another key does not decrypt.
type StateKey struct{ aead cipher.AEAD }

// NewStateKey returns a StateKey of a 32-byte key.
func NewStateKey(key []byte) (*StateKey, error) {
	if len(key) != StateKeySize {
		return nil, fmt.Errorf("cloud: state key is %d bytes, want %d", len(key), StateKeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &StateKey{aead: a}, nil
}

func (k *StateKey) seal(plain, ad string) string {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return sealedPrefix + base64.StdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, []byte(plain), []byte(ad)))
}

func (k *StateKey) open(s, ad string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, sealedPrefix))
	if err != nil || len(raw) < k.aead.NonceSize() {
		return "", ErrSealed
	}
	n := k.aead.NonceSize()
	p, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(ad))
	if err != nil {
		return "", ErrSealed
	}
	return string(p), nil
}

// secrets calls f on every secret field of op's snapshot.
func (op *VPNOp) secrets(f func(*string) error) error {
	if err := f(&op.Snapshot.Ike.Psk); err != nil {
		return err
	}
	for i := range op.Snapshot.Tunnels {
		if err := f(&op.Snapshot.Tunnels[i].Ike.Psk); err != nil {
			return err
		}
	}
	for id, c := range op.Snapshot.CGWs {
		if err := f(&c.AuthKey); err != nil {
			return err
		}
		op.Snapshot.CGWs[id] = c
	}
	return nil
}

// sealOp returns a copy of op with every secret encrypted under key for the Redis key ad.
// Without a key, an op holding a secret is refused.
func sealOp(op VPNOp, key *StateKey, ad string) (VPNOp, error) {
	op = op.clone()
	err := op.secrets(func(s *string) error {
		switch {
		case *s == "":
		case key == nil:
			return ErrNoStateKey
		default:
			*s = key.seal(*s, ad)
		}
		return nil
	})
	return op, err
}

// openOp decrypts the secrets sealOp encrypted. A value saved in clear (before encryption)
// is read as it is; the next save encrypts it.
func openOp(op *VPNOp, key *StateKey, ad string) error {
	return op.secrets(func(s *string) error {
		if !strings.HasPrefix(*s, sealedPrefix) {
			return nil
		}
		if key == nil {
			return ErrNoStateKey
		}
		p, err := key.open(*s, ad)
		if err != nil {
			return err
		}
		*s = p
		return nil
	})
}

// Redacted returns a copy of op with every secret replaced by "[REDACTED]" (empty ones stay
// empty), for showing to operators.
func (op VPNOp) Redacted() VPNOp {
	op = op.clone()
	_ = op.secrets(func(s *string) error {
		if *s != "" {
			*s = redacted
		}
		return nil
	})
	return op
}

const redacted = "[REDACTED]"
