package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/ashreports/ashreports/internal/apperr"
)

// The argon2id parameters of new hashes (OWASP's first choice: 19 MiB,
// two passes, one lane). Hashes keep their own parameters, so these may
// grow without invalidating stored ones.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Password length limits, in characters: short passwords are guessed,
// very long ones make hashing a denial of service.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// CheckPasswordPolicy returns an invalid error naming the field when
// password may not be used.
func CheckPasswordPolicy(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return &apperr.Error{Code: apperr.Invalid, Field: "password", Message: fmt.Sprintf("a password needs at least %d characters", MinPasswordLen)}
	case n > MaxPasswordLen:
		return &apperr.Error{Code: apperr.Invalid, Field: "password", Message: fmt.Sprintf("a password may have at most %d characters", MaxPasswordLen)}
	}
	return nil
}

// HashPassword returns the argon2id hash of password, with a fresh salt,
// as a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key).
func HashPassword(password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformedHash is returned for a stored hash that is not one
// HashPassword made.
var ErrMalformedHash = errors.New("malformed password hash")

// CheckPassword reports whether password matches encoded, a hash made by
// HashPassword, in constant time for a given hash.
func CheckPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil || memory == 0 || time == 0 || threads == 0 {
		return false, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformedHash
	}
	if utf8.RuneCountInString(password) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// TokenPrefix starts every API token secret, so that secret scanners and
// people recognise one.
const TokenPrefix = "ashr_"

// NewToken returns a new API token secret (shown once to its creator) and
// the hash to store.
func NewToken() (secret, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the stored form of a token secret. The secret has 256
// random bits, so a fast hash is enough: nobody can guess it back.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewID returns a random identifier (80 bits) with a prefix naming what
// it is ("usr", "tok").
func NewID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text()[:16])
}

// NewPassword returns a random password for a user created without one:
// 26 characters of base32, 130 random bits.
func NewPassword() string { return rand.Text() }
