package redact

import (
	"encoding/base64"
	"strings"
)

const (
	// maxKey bounds the key read back from a separator.
	maxKey = 128
	// maxSpaces bounds the blanks read around a separator.
	maxSpaces = 4
)

// findSecrets appends the spans of secrets in s, whose features are f,
// to dst.
func findSecrets(s string, f features, dst []span) []span {
	if f&featSep != 0 {
		dst = findKeyValues(s, dst)
	}
	dst = findAuthSchemes(s, dst)
	dst = findURLPasswords(s, dst)
	dst = findTokenShapes(s, dst)
	return findPrivateKeys(s, dst)
}

// findKeyValues appends the values of secret keys: each '=' and ':' is
// read as a separator, the key read back from it and the value forward.
func findKeyValues(s string, dst []span) []span {
	for _, sep := range [2]byte{'=', ':'} {
		for i := 0; i < len(s); {
			k := strings.IndexByte(s[i:], sep)
			if k < 0 {
				break
			}
			i += k
			if sp, ok := keyValueAt(s, i); ok {
				dst = append(dst, sp)
				i = max(sp.end, i+1)
				continue
			}
			i++
		}
	}
	return dst
}

// keyValueAt reports the value to mask after the separator at i.
func keyValueAt(s string, i int) (span, bool) {
	sep := s[i]
	prev, next := at(s, i-1), at(s, i+1)
	switch {
	case sep == '=' && (next == '=' || prev == '=' || prev == '!' || prev == '<' || prev == '>'):
		return span{}, false // a comparison
	case sep == ':' && (next == ':' || prev == ':' || (next == '/' && at(s, i+2) == '/')):
		return span{}, false // a scope or a URL scheme
	}
	k := i
	spaced := false
	for n := 0; n < maxSpaces && k > 0 && s[k-1] == ' '; n++ {
		k--
		spaced = true
	}
	if c := at(s, k-1); c == '"' || c == '\'' {
		k--
		if at(s, k-1) == '\\' {
			k--
		}
	}
	ke := k
	for k > 0 && ke-k <= maxKey && isKeyChar(s[k-1]) {
		k--
	}
	if k == ke || ke-k > maxKey || !secretKey(s[k:ke]) {
		return span{}, false
	}
	key := s[k:ke]
	v := i + 1
	if sep == ':' || spaced {
		for n := 0; n < maxSpaces && v < len(s) && (s[v] == ' ' || s[v] == '\t'); n++ {
			v++
		}
	}
	return valueAt(s, v, sep, key)
}

func isKeyChar(c byte) bool { return isWord(c) || c == '-' || c == '.' }

// valueAt reports the span to mask of the value starting at v, which
// follows key and sep.
func valueAt(s string, v int, sep byte, key string) (span, bool) {
	if v >= len(s) {
		return span{}, false
	}
	var start, end int
	quoted := true
	switch c := s[v]; {
	case c == '"' || c == '\'':
		start = v + 1
		end = closingQuote(s, start, c)
	case c == '\\' && at(s, v+1) == '"': // a JSON string inside a JSON string
		start = v + 2
		if e := strings.Index(s[start:], `\"`); e >= 0 {
			end = start + e
		} else {
			end = len(s)
		}
	case c == '{', c == '[' && (sep == ':' || isMask(s[v:])):
		return span{}, false
	default:
		quoted = false
		start = v
		end = unquotedEnd(s, v)
	}
	val := s[start:end]
	if scheme, ok := authSchemePrefix(val, quoted); ok {
		// Keep the scheme, mask the credential after it.
		if quoted {
			start += scheme
		} else {
			start = end
			for start < len(s) && start-end < maxSpaces && s[start] == ' ' {
				start++
			}
			end = unquotedEnd(s, start)
		}
		val = s[start:end]
	}
	if !maskableValue(key, val) {
		return span{}, false
	}
	return span{start, end}, true
}

// closingQuote returns the index of the quote q ending a string that
// starts at i, skipping backslash escapes, or len(s).
func closingQuote(s string, i int, q byte) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
		case q:
			return i
		default:
			i++
		}
	}
	return len(s)
}

// unquotedEnd returns the end of an unquoted value starting at i.
func unquotedEnd(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', ',', ';', '&', '"', '\'', '}', ']', ')', '<', '>':
			return i
		case '\\':
			if n := at(s, i+1); n == '"' || n == 'n' || n == 'r' || n == 't' {
				return i
			}
		case '[':
			if isMask(s[i:]) {
				return i
			}
		}
	}
	return len(s)
}

var authSchemes = [...]string{"bearer", "basic", "token", "bot", "digest", "negotiate", "ntlm"}

// authSchemePrefix reports whether a value starts with an HTTP
// authentication scheme and a space, and the length of both. An
// unquoted value is a single word: it must be the scheme itself.
func authSchemePrefix(val string, quoted bool) (int, bool) {
	for _, sc := range authSchemes {
		if len(val) < len(sc) || !strings.EqualFold(val[:len(sc)], sc) {
			continue
		}
		if !quoted {
			return 0, len(val) == len(sc)
		}
		n := len(sc)
		if at(val, n) != ' ' {
			continue
		}
		for at(val, n) == ' ' {
			n++
		}
		return n, true
	}
	return 0, false
}

// maskableValue reports whether val, under a secret key, is a secret:
// not empty, not a boolean or null, not stars, not already masked, and
// not a working directory under pwd.
func maskableValue(key, val string) bool {
	if val == "" || isMask(val) || strings.Trim(val, "*") == "" {
		return false
	}
	for _, w := range [...]string{"true", "false", "null", "nil", "none", "undefined"} {
		if strings.EqualFold(val, w) {
			return false
		}
	}
	if c := val[0]; (c == '/' || c == '~') && strings.EqualFold(lastWord(key), "pwd") {
		return false
	}
	return true
}

// Secret key words; see the package comment.
var (
	secretWords = [...]string{
		"password", "passwd", "pwd", "passphrase", "secret", "secrets", "token",
		"apikey", "credential", "credentials", "authorization", "sessionid",
		"accesskey", "privatekey", "secretkey",
	}
	secretSuffixes = [...]string{"password", "passwd", "secret", "token", "apikey"}
	secretPairs    = [...][2]string{
		{"api", "key"}, {"access", "key"}, {"private", "key"}, {"secret", "key"},
		{"signing", "key"}, {"encryption", "key"}, {"auth", "key"},
		{"session", "id"}, {"session", "key"},
	}
	valueWords = [...]string{"value", "val", "b64", "base64", "plain", "plaintext", "raw"}
)

// secretEnd holds the last letters of the words that can end a secret
// key: of secretWords, secretSuffixes, the pairs' second words and
// valueWords.
var secretEnd = func() (t [256]bool) {
	add := func(w string) {
		c := w[len(w)-1]
		t[c] = true
		if isLower(c) {
			t[c-'a'+'A'] = true
		}
	}
	for _, w := range secretWords {
		add(w)
	}
	for _, w := range secretSuffixes {
		add(w)
	}
	for _, p := range secretPairs {
		add(p[1])
	}
	for _, w := range valueWords {
		add(w)
	}
	return t
}()

// secretKey reports whether a key names a secret.
func secretKey(key string) bool {
	for len(key) > 0 && isWordSep(key[len(key)-1]) {
		key = key[:len(key)-1]
	}
	s1 := lastWordStart(key, len(key))
	w1 := key[s1:]
	if w1 == "" || !secretEnd[w1[len(w1)-1]] {
		return false // the common key, quickly
	}
	if oneOfFold(w1, secretWords[:]) {
		return true
	}
	for _, suf := range secretSuffixes {
		if len(w1) > len(suf) && strings.EqualFold(w1[len(w1)-len(suf):], suf) {
			return true
		}
	}
	e0 := s1
	for e0 > 0 && isWordSep(key[e0-1]) {
		e0--
	}
	if e0 == 0 {
		return false
	}
	w0 := key[lastWordStart(key, e0):e0]
	for _, p := range secretPairs {
		if strings.EqualFold(w0, p[0]) && strings.EqualFold(w1, p[1]) {
			return true
		}
	}
	return oneOfFold(w1, valueWords[:]) && secretKey(key[:e0])
}

// secretAttributeKey reports whether an attribute key names a secret,
// itself or by a dotted prefix (a flattened JSON object under a secret
// key).
func secretAttributeKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' && secretKey(key[:i]) {
			return true
		}
	}
	return secretKey(key)
}

func isWordSep(c byte) bool { return c == '_' || c == '-' || c == '.' }

// lastWordStart returns where the last word of key[:end] starts: after a
// separator or at a camelCase boundary ("accessToken", "APIKey").
func lastWordStart(key string, end int) int {
	for j := end - 1; j > 0; j-- {
		c, p := key[j], key[j-1]
		if isWordSep(p) {
			return j
		}
		if isUpper(c) && (isLower(p) || isDigit(p) || (isUpper(p) && j+1 < end && isLower(key[j+1]))) {
			return j
		}
	}
	return 0
}

func lastWord(key string) string {
	for len(key) > 0 && isWordSep(key[len(key)-1]) {
		key = key[:len(key)-1]
	}
	return key[lastWordStart(key, len(key)):]
}

func oneOfFold(w string, words []string) bool {
	for _, x := range words {
		if len(w) == len(x) && strings.EqualFold(w, x) {
			return true
		}
	}
	return false
}

// findAuthSchemes appends the credentials of "Bearer <token>" and
// "Basic <base64>" (any case), wherever they appear.
func findAuthSchemes(s string, dst []span) []span {
	for _, b := range [2]byte{'b', 'B'} {
		for i := 0; i < len(s); {
			k := strings.IndexByte(s[i:], b)
			if k < 0 {
				break
			}
			p := i + k
			i = p + 1
			var bearer bool
			switch {
			case len(s)-p > 7 && strings.EqualFold(s[p:p+7], "bearer "):
				bearer = true
			case len(s)-p > 6 && strings.EqualFold(s[p:p+6], "basic "):
			default:
				continue
			}
			if isAlnum(at(s, p-1)) {
				continue
			}
			start := p + 6
			if bearer {
				start++
			}
			for start < len(s) && start-p < 7+maxSpaces && s[start] == ' ' {
				start++
			}
			end := start
			for end < len(s) && isToken68(s[end]) {
				end++
			}
			tok := s[start:end]
			if isAlnum(at(s, end)) || (bearer && !bearerToken(tok)) || (!bearer && !basicCredential(tok)) {
				continue
			}
			dst = append(dst, span{start, end})
			i = end
		}
	}
	return dst
}

func isToken68(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}

// bearerToken reports whether tok looks like a credential rather than a
// word: eight or more characters with a digit, punctuation or both
// cases, and no '=' but padding.
func bearerToken(tok string) bool {
	if len(tok) < 8 || strings.IndexByte(strings.TrimRight(tok, "="), '=') >= 0 {
		return false // a word, or a key=value pair (token_type=Bearer expires_in=3600)
	}
	var upper, lower bool
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case isUpper(c):
			upper = true
		case isLower(c):
			lower = true
		default:
			return true
		}
	}
	return upper && lower
}

// basicCredential reports whether tok is base64 of "user:password".
func basicCredential(tok string) bool {
	tok = strings.TrimRight(tok, "=")
	if len(tok) < 4 || strings.ContainsAny(tok, "-._~=") {
		return false
	}
	var buf [192]byte
	if base64.RawStdEncoding.DecodedLen(len(tok)) > len(buf) {
		return true // long enough to be nothing else
	}
	n, err := base64.RawStdEncoding.Decode(buf[:], []byte(tok))
	if err != nil {
		return false
	}
	for _, c := range buf[:n] {
		if c == ':' {
			return true
		}
	}
	return false
}

// findURLPasswords appends the password of scheme://user:password@host.
func findURLPasswords(s string, dst []span) []span {
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			break
		}
		i += k + 3
		end := i
		for end < len(s) && isAuthorityChar(s[end]) {
			end++
		}
		auth := s[i:end]
		a := strings.LastIndexByte(auth, '@')
		if a < 0 {
			continue
		}
		c := indexOutsideMasks(auth[:a], ':')
		if c < 0 || !maskableValue("", auth[c+1:a]) {
			continue
		}
		// i stays after "://": the authority's end may start another URL.
		dst = append(dst, span{i + c + 1, i + a})
	}
	return dst
}

// indexOutsideMasks is strings.IndexByte, but skips masks: the colon
// in "[REDACTED:email]" separates no user from a password.
func indexOutsideMasks(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '[' && isMask(s[i:]) {
			if e := strings.IndexByte(s[i:], ']'); e >= 0 {
				i += e
				continue
			}
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func isAuthorityChar(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '\\', '`':
		return false
	}
	return c >= 0x20 && c < 0x7f
}

// A tokenShape is a well-known token prefix and what must follow it.
// Candidates are found by an anchor, a byte of the prefix rarer than
// its first: one IndexByte pass per anchor byte serves every shape.
type tokenShape struct {
	prefix   string          // literal, but '?' stands for one byte of alt
	alt      string          // the bytes '?' matches
	anchor   int             // index in prefix of the anchor byte
	min, max int             // length of the rest; max 0: unbounded
	char     func(byte) bool // the rest's alphabet
}

func isUpperAlnum(c byte) bool { return isUpper(c) || isDigit(c) }
func isBase64URL(c byte) bool  { return isAlnum(c) || c == '-' || c == '_' }
func isSlackChar(c byte) bool  { return isAlnum(c) || c == '-' }

var tokenShapes = [...]tokenShape{
	{prefix: "AKIA", min: 16, max: 16, char: isUpperAlnum},
	{prefix: "ASIA", min: 16, max: 16, char: isUpperAlnum},
	{prefix: "AIza", min: 35, max: 35, char: isBase64URL},
	{prefix: "gh?_", alt: "pousr", anchor: 3, min: 20, char: isAlnum},
	{prefix: "github_pat_", anchor: 6, min: 22, char: isWord},
	{prefix: "sk_live_", anchor: 2, min: 10, char: isAlnum},
	{prefix: "rk_live_", anchor: 2, min: 10, char: isAlnum},
	{prefix: "xox?-", alt: "baprs", min: 10, char: isSlackChar},
}

// shapeAnchors are the distinct anchor bytes of tokenShapes.
const shapeAnchors = "A_x"

func (t *tokenShape) prefixAt(s string, start int) bool {
	if start < 0 || start+len(t.prefix) > len(s) {
		return false
	}
	for i := 0; i < len(t.prefix); i++ {
		c, p := s[start+i], t.prefix[i]
		if p == '?' {
			if strings.IndexByte(t.alt, c) < 0 {
				return false
			}
		} else if c != p {
			return false
		}
	}
	return true
}

// findTokenShapes appends tokens of well-known shapes and JWTs, standing
// alone: not after a letter, digit or underscore, and not running on
// into one.
func findTokenShapes(s string, dst []span) []span {
	for a := 0; a < len(shapeAnchors); a++ {
		anchor := shapeAnchors[a]
		for i := 0; i < len(s); {
			k := strings.IndexByte(s[i:], anchor)
			if k < 0 {
				break
			}
			p := i + k
			i = p + 1
			for ti := range tokenShapes {
				t := &tokenShapes[ti]
				start := p - t.anchor
				if t.prefix[t.anchor] != anchor || !t.prefixAt(s, start) || isWord(at(s, start-1)) {
					continue
				}
				end := start + len(t.prefix)
				for end < len(s) && t.char(s[end]) {
					end++
				}
				n := end - start - len(t.prefix)
				if n < t.min || (t.max > 0 && n > t.max) || isWord(at(s, end)) {
					continue
				}
				dst = append(dst, span{start, end})
				i = end
				break
			}
		}
	}
	return findJWTs(s, dst)
}

// findJWTs appends JSON web tokens: three base64url segments joined by
// dots, the first starting with eyJ (`{"`), not inside a longer dotted
// run.
func findJWTs(s string, dst []span) []span {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], 'J') // rarer than 'e'
		if k < 0 {
			break
		}
		start := i + k - 2
		i = start + 3
		if start < 0 || s[start] != 'e' || s[start+1] != 'y' || isBase64URL(at(s, start-1)) || at(s, start-1) == '.' {
			continue
		}
		end, ok := start, true
		for seg := 0; seg < 3 && ok; seg++ {
			e := end
			for e < len(s) && isBase64URL(s[e]) {
				e++
			}
			switch seg {
			case 0:
				ok = e-end >= 10 && at(s, e) == '.'
			case 1:
				ok = e-end >= 2 && at(s, e) == '.'
			}
			end = e
			if seg < 2 {
				end++ // the dot
			}
		}
		if !ok || at(s, end) == '.' && isBase64URL(at(s, end+1)) {
			continue
		}
		dst = append(dst, span{start, end})
		i = end
	}
	return dst
}

// findPrivateKeys appends PEM private key blocks, from the BEGIN line to
// the end of the matching END line (or of s, when it was cut).
func findPrivateKeys(s string, dst []span) []span {
	const begin, dashes = "-----BEGIN ", "-----"
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], begin)
		if k < 0 {
			break
		}
		start := i + k
		i = start + len(begin)
		e := strings.Index(s[i:], dashes)
		if e < 0 || e > 64 {
			continue
		}
		label := s[i : i+e]
		if !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") {
			continue
		}
		end := len(s)
		if f := strings.Index(s[i:], "-----END "+label+dashes); f >= 0 {
			end = i + f + len("-----END "+label+dashes)
		}
		dst = append(dst, span{start, end})
		i = end
	}
	return dst
}
