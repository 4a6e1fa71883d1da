package auth

import (
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/apperr"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "horse") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal: no fresh salt")
	}
	for pw, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapl": false, "": false, "Correct horse battery staple": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=8,t=1,p=1$!!$a2V5", "$argon2id$v=18$m=8,t=1,p=1$c2FsdA$a2V5"} {
		if _, err := CheckPassword(bad, "whatever password"); err != ErrMalformedHash {
			t.Errorf("CheckPassword(%q): %v, want ErrMalformedHash", bad, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "elevenchars": false, "twelve chars": true, strings.Repeat("é", MaxPasswordLen): true, strings.Repeat("a", MaxPasswordLen+1): false} {
		err := CheckPasswordPolicy(pw)
		if (err == nil) != ok {
			t.Errorf("policy(%d chars) = %v, want ok %v", len([]rune(pw)), err, ok)
		}
		if err != nil {
			if e := apperr.From(err); e.Code != apperr.Invalid || e.Field != "password" {
				t.Errorf("policy error %+v, want invalid on field password", e)
			}
			if _, herr := HashPassword(pw); herr == nil {
				t.Errorf("HashPassword took a password the policy refuses")
			}
		}
	}
}

func TestTokens(t *testing.T) {
	s1, h1 := NewToken()
	s2, _ := NewToken()
	if !strings.HasPrefix(s1, TokenPrefix) || len(s1) != len(TokenPrefix)+43 || s1 == s2 {
		t.Fatalf("secrets %q, %q", s1, s2)
	}
	if HashToken(s1) != h1 || strings.Contains(h1, s1[len(TokenPrefix):]) || len(h1) != 64 {
		t.Errorf("hash %q of %q", h1, s1)
	}
	if a, b := NewID("usr"), NewID("usr"); a == b || !strings.HasPrefix(a, "usr_") || len(a) != 20 || a != strings.ToLower(a) {
		t.Errorf("ids %q, %q", a, b)
	}
	if p := NewPassword(); CheckPasswordPolicy(p) != nil {
		t.Errorf("NewPassword %q fails the policy", p)
	}
}
