// Package redact masks secrets and personal data in log records before
// they are written: the body, every attribute value and every resource
// value. A masked value is replaced by `[REDACTED:<rule>]`; the rest of
// the text is kept. Stream labels, the service name and the severity
// text are not redacted (they are chosen by the shipper's configuration,
// not by what a service logged).
//
// # Built-in detectors
//
// The detectors run in this order, each on the output of the one before:
// secret, credit_card, email, ip_address; user rules follow, in their
// order. Each detector looks for a cheap sign first (an '=' or ':', 13
// digits, an '@', a dot or colon) so that the common line, with nothing
// to mask, costs a few hundred nanoseconds and no allocation.
//
// secret (on by default) masks:
//
//   - The value of a key-value pair whose key names a secret:
//     `key=value`, `key: value`, `key = value`, `"key": "value"` (JSON,
//     also with escaped quotes inside a JSON string), `key="value"`,
//     `?key=value&...` in URLs. Only the value is masked; the key, the
//     quotes and the separator stay. The key names a secret when its last
//     word (words split at `_`, `-`, `.` and camelCase) is one of
//     password, passwd, pwd, passphrase, secret(s), token, apikey,
//     credential(s), authorization, sessionid, or ends in one of password,
//     passwd, secret, token, apikey (`dbpassword`, `csrftoken`), or its
//     last two words are api key, access key, private key, secret key,
//     signing key, encryption key, auth key, session id, session key, or
//     a secret word followed by value/b64/base64/plain/raw
//     (`token_value`). So db_password, x-api-key, client_secret,
//     access_token, auth_token, accessToken, X-Auth-Token and session_id
//     are secrets, and token_count, token_type, password_reset_requested,
//     secret_name, api_key_id and a bare `key` are not: a key whose last
//     word is not the secret word describes the secret (a count, a type,
//     an event), it does not hold it. Session ids are masked: they are
//     bearer credentials.
//   - Values that are not secrets are kept even under a secret key: empty
//     values, true, false, null, nil, none, undefined (`"secret": false`
//     is a flag), all-asterisk values, a JSON object or array after a
//     colon (`"credentials": {...}`: the nested keys are judged on their
//     own), values already masked, and a `pwd`/`PWD` value starting with
//     `/` or `~` (the shell's working directory in environment dumps).
//   - Under an authorization-like key, a value starting with an HTTP
//     authentication scheme (Bearer, Basic, Token, Bot, Digest, Negotiate,
//     NTLM) keeps the scheme and masks the credential after it.
//   - `Bearer <token>` anywhere, when the token is at least 8 characters
//     of token68 alphabet with a digit, a punctuation character or mixed
//     case (so "bearer authentication" stays); `Basic <base64>` anywhere
//     when the base64 decodes to `user:password`.
//   - The password of `scheme://user:password@host` URLs and DSNs.
//   - Well-known token shapes, standing alone (not inside a longer word):
//     AWS access key ids (AKIA/ASIA + 16 upper-case letters or digits),
//     GitHub tokens (ghp_, gho_, ghs_, ghu_, ghr_ + at least 20
//     characters; github_pat_ + at least 22), Slack tokens (xoxb-,
//     xoxa-, xoxp-, xoxr-, xoxs- + at least 10), Stripe secret and
//     restricted live keys (sk_live_, rk_live_), Google API keys (AIza +
//     35), JWTs (eyJ + two more base64url segments; an unsigned JWT's
//     empty signature included), and PEM private key blocks (BEGIN ...
//     PRIVATE KEY to the matching END, or to the end of the value when
//     the END line is missing). Certificates and public keys are kept.
//   - An attribute or resource value whose key names a secret, as above,
//     is masked whole. Attribute keys of flattened JSON are also judged
//     by each dotted prefix: credentials.user is under credentials.
//
// Not caught: a secret after a bare word without a separator
// (`--password hunter2`, `password is hunter2`), XML elements, cookie
// headers other than their session keys, and secrets with no name and no
// known shape. In prose, a secret word followed by a colon masks the next
// word ("invalid token: expired" masks "expired"): the cost of that false
// positive is a word, the cost of the other choice a leak.
//
// credit_card (on by default) masks 13 to 19 digits, contiguous or in
// groups separated by one space or one dash throughout (4-4-4-4,
// 4-4-4-4-3, 4-4-4-1..4, Amex 4-6-5, Diners 4-6-4), that pass the Luhn
// check and start with an issuer prefix of the right length: Visa 4
// (13, 16, 19 digits), Mastercard 51-55 and 2221-2720 (16), Amex 34, 37
// (15), Discover 6011, 644-649, 65 (16-19), JCB 3528-3589 (16-19),
// Diners 300-305, 36, 38 (14-19). A number is not masked when it fails
// Luhn, when it is part of a longer run of digits or of digit groups
// joined by dashes (order ids, numeric UUIDs), or when it touches a
// letter, digit, `_`, `.` or an `x-` style joining dash on either side
// (hex trace ids, ids like ord_4111..., decimals); a sentence's full stop
// after it is fine. Unix timestamps (seconds, milliseconds, nanoseconds
// start with 1, which is no issuer), phone numbers, prices, UUIDs and
// RFC 3339 times never match. UnionPay and Maestro ranges are not
// recognised.
//
// email (on by default) masks `local@domain.tld`: a local part of
// letters, digits and `._%+-` (up to 64), a domain of at least two
// dot-separated labels of letters, digits and inner dashes, ending in a
// top-level domain of at least two letters. Not masked: `user@localhost`
// and other dotless domains (`nginx@web-1`, service principals and ssh
// targets, not mail addresses), `@mentions` (no local part), package
// versions (`pkg@1.2.3`: the last label is not letters), retina image
// names (`icon@2x.png`), and an address continuing into a word. The whole
// address is masked, so `git@github.com:org/repo` becomes
// `[REDACTED:email]:org/repo`.
//
// ip_address (off by default) masks IPv4 dotted quads (four decimal
// octets of at most 255, no leading zeros) and IPv6 addresses in full or
// compressed form, with an embedded IPv4 tail, as net/netip parses them.
// Not masked: dotted runs of more or fewer than four parts (versions like
// 1.2.3.4.5, dates), quads after a letter (`v1.2.3.4`), quads inside a
// longer run of hex digits and colons that is no IPv6 address
// (`0::1.2.3.4:0`), times such as 12:30:45, MAC addresses, C++ scopes
// (`std::string`) and a bare `::`.
// A four-part version without a prefix is indistinguishable from an
// address and is masked.
//
// # User rules
//
// A Rule is an RE2 regular expression applied to every value after the
// built-in detectors; each match is replaced by Replacement, which may
// refer to groups as regexp.Expand does (`$1`, `${name}`), or by
// `[REDACTED:<name>]` when it is empty.
//
// # Failures
//
// Redaction never fails ingest: if masking a record panics, the record
// is failed closed (its body and every attribute and resource value
// become `[REDACTED:redaction_failed]`) and counted in
// vigil_logs_redaction_failures_total. Unmasked values are never logged.
package redact

import (
	"errors"
	"fmt"
	"maps"

	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/storage/logs"
)

// Built-in rule names, as masks and the rule label of
// vigil_logs_redactions_total name them.
const (
	RuleSecret     = "secret"
	RuleCreditCard = "credit_card"
	RuleEmail      = "email"
	RuleIPAddress  = "ip_address"
)

// Failed is what every value of a record becomes when its redaction
// failed.
const Failed = "[REDACTED:redaction_failed]"

const (
	builtinSecret = iota
	builtinCard
	builtinEmail
	builtinIP
	numBuiltins
)

var builtinNames = [numBuiltins]string{RuleSecret, RuleCreditCard, RuleEmail, RuleIPAddress}

var builtinMasks = [numBuiltins]string{
	"[REDACTED:" + RuleSecret + "]",
	"[REDACTED:" + RuleCreditCard + "]",
	"[REDACTED:" + RuleEmail + "]",
	"[REDACTED:" + RuleIPAddress + "]",
}

// Rule is a user redaction rule.
type Rule struct {
	// Name labels the rule's counter and its default mask.
	Name string
	// Pattern is an RE2 regular expression; it must not match the empty
	// string.
	Pattern string
	// Replacement replaces each match, expanding $1-style group
	// references as regexp.Expand does. Empty means "[REDACTED:<Name>]".
	Replacement string
}

// Options choose the detectors. The zero Options masks nothing; the
// server starts from DefaultOptions.
type Options struct {
	CreditCards, Emails, Secrets bool
	IPAddresses                  bool
	// Rules run after the built-in detectors, in order.
	Rules []Rule
	// Registerer, if not nil, gets vigil_logs_redactions_total{rule}
	// and vigil_logs_redaction_failures_total.
	Registerer prometheus.Registerer
}

// DefaultOptions turns on the detectors the server enables by default:
// credit cards, emails and secrets. IP addresses stay off: they are
// often what an operator needs to read.
func DefaultOptions() Options {
	return Options{CreditCards: true, Emails: true, Secrets: true}
}

// Redactor masks log records. It is safe for concurrent use; a nil
// *Redactor masks nothing.
type Redactor struct {
	on       [numBuiltins]bool
	rules    []userRule
	counters [numBuiltins]prometheus.Counter
	failures prometheus.Counter

	// testHook, when set, is called with each record's body before
	// masking; tests make it panic to exercise failing closed.
	testHook func(body string)
}

type userRule struct {
	name    string
	re      *regexp.Regexp
	repl    string
	counter prometheus.Counter
}

// New builds a Redactor. It fails when a user rule has no name, a
// duplicate or built-in name, or a pattern that does not compile or
// matches the empty string, and when the metrics cannot be registered.
func New(o Options) (*Redactor, error) {
	r := &Redactor{}
	r.on[builtinSecret] = o.Secrets
	r.on[builtinCard] = o.CreditCards
	r.on[builtinEmail] = o.Emails
	r.on[builtinIP] = o.IPAddresses

	seen := make(map[string]bool, len(o.Rules))
	for _, n := range builtinNames {
		seen[n] = true
	}
	for i, ru := range o.Rules {
		switch {
		case ru.Name == "":
			return nil, fmt.Errorf("cannot use redaction rule #%d (pattern %q): it has no name", i+1, ru.Pattern)
		case seen[ru.Name]:
			return nil, fmt.Errorf("cannot use redaction rule %q: the name is already taken by another rule or a built-in detector", ru.Name)
		case ru.Pattern == "":
			return nil, fmt.Errorf("cannot use redaction rule %q: it has no pattern", ru.Name)
		}
		seen[ru.Name] = true
		re, err := regexp.Compile(ru.Pattern)
		if err != nil {
			return nil, fmt.Errorf("cannot compile redaction rule %q: %w", ru.Name, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("cannot use redaction rule %q: pattern %q matches the empty string, so it would mask between every character; make it match at least one character", ru.Name, ru.Pattern)
		}
		repl := ru.Replacement
		if repl == "" {
			repl = "[REDACTED:" + ru.Name + "]"
		}
		r.rules = append(r.rules, userRule{name: ru.Name, re: re, repl: repl})
	}

	masked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_logs_redactions_total",
		Help: "Values masked in log records before storage, by rule (built-in detectors: secret, credit_card, email, ip_address).",
	}, []string{"rule"})
	r.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_logs_redaction_failures_total",
		Help: "Log records whose redaction failed; each was stored with every value replaced by " + Failed + ".",
	})
	// Series are resolved up front so that the masking path does no
	// label lookups and every enabled rule's series exists from the start.
	for i, name := range builtinNames {
		r.counters[i] = masked.WithLabelValues(name)
	}
	for i := range r.rules {
		r.rules[i].counter = masked.WithLabelValues(r.rules[i].name)
	}
	if reg := o.Registerer; reg != nil {
		if err := errors.Join(reg.Register(masked), reg.Register(r.failures)); err != nil {
			return nil, fmt.Errorf("cannot register redaction metrics (is a second redactor sharing the registry?): %w", err)
		}
	}
	return r, nil
}

// Enabled reports whether any detector or rule is on.
func (r *Redactor) Enabled() bool {
	if r == nil {
		return false
	}
	for _, on := range r.on {
		if on {
			return true
		}
	}
	return len(r.rules) > 0
}

// Redact masks rec's body, attribute values and resource values and
// returns how many values it masked. Attribute and resource maps are
// never written: a map with a masked value is replaced by a masked copy,
// because receivers may share one resource map among the records of a
// batch. It may be called from many goroutines at once, on different
// records. If masking panics, every value of rec is replaced by Failed,
// the failure is counted, and the number of values so replaced is
// returned.
func (r *Redactor) Redact(rec *logs.Record) (n int) {
	if rec == nil || !r.Enabled() {
		return 0
	}
	defer func() {
		if p := recover(); p != nil {
			r.failures.Inc()
			n = failClosed(rec)
		}
	}()
	if r.testHook != nil {
		r.testHook(rec.Body)
	}
	var k int
	if rec.Body, k = r.redactValue(rec.Body); k > 0 {
		n += k
	}
	rec.Attributes, k = r.redactMap(rec.Attributes)
	n += k
	rec.Resource, k = r.redactMap(rec.Resource)
	n += k
	return n
}

// failClosed replaces every value of rec by Failed, in fresh maps.
func failClosed(rec *logs.Record) int {
	rec.Body = Failed
	n := 1
	for _, m := range []*map[string]string{&rec.Attributes, &rec.Resource} {
		if *m == nil {
			continue
		}
		out := make(map[string]string, len(*m))
		for k := range *m {
			out[k] = Failed
			n++
		}
		*m = out
	}
	return n
}

// redactMap masks m's values, returning m itself when nothing was masked
// and a masked copy otherwise.
func (r *Redactor) redactMap(m map[string]string) (map[string]string, int) {
	var out map[string]string
	n := 0
	for k, v := range m {
		var nv string
		var c int
		if r.on[builtinSecret] && secretAttributeKey(k) && maskableValue(k, v) {
			nv, c = builtinMasks[builtinSecret], 1
			r.counters[builtinSecret].Inc()
		} else {
			nv, c = r.redactValue(v)
		}
		if c == 0 {
			continue
		}
		n += c
		if out == nil {
			out = maps.Clone(m)
		}
		out[k] = nv
	}
	if out == nil {
		return m, 0
	}
	return out, n
}

// redactValue runs the detectors and rules over one value.
func (r *Redactor) redactValue(s string) (string, int) {
	if s == "" {
		return s, 0
	}
	var buf [8]span
	n := 0
	f := scanFeatures(s)
	if r.on[builtinSecret] {
		var k int
		if s, k = applySpans(s, findSecrets(s, f, buf[:0]), builtinMasks[builtinSecret]); k > 0 {
			n += k
			r.counters[builtinSecret].Add(float64(k))
			f = scanFeatures(s)
		}
	}
	if r.on[builtinCard] && f.digits() >= minCardDigits {
		var k int
		if s, k = applySpans(s, findCards(s, buf[:0]), builtinMasks[builtinCard]); k > 0 {
			n += k
			r.counters[builtinCard].Add(float64(k))
			f = scanFeatures(s)
		}
	}
	if r.on[builtinEmail] && f&featAt != 0 {
		var k int
		if s, k = applySpans(s, findEmails(s, buf[:0]), builtinMasks[builtinEmail]); k > 0 {
			n += k
			r.counters[builtinEmail].Add(float64(k))
			f = scanFeatures(s)
		}
	}
	if r.on[builtinIP] && f&(featDot|featColon) != 0 && f.digits() > 0 {
		var k int
		if s, k = applySpans(s, findIPs(s, buf[:0]), builtinMasks[builtinIP]); k > 0 {
			n += k
			r.counters[builtinIP].Add(float64(k))
		}
	}
	for i := range r.rules {
		ru := &r.rules[i]
		if !ru.re.MatchString(s) {
			continue
		}
		var k int
		s, k = ru.replace(s)
		n += k
		ru.counter.Add(float64(k))
	}
	return s, n
}

func (ru *userRule) replace(s string) (string, int) {
	ms := ru.re.FindAllStringSubmatchIndex(s, -1)
	out := make([]byte, 0, len(s)+len(ms)*len(ru.repl))
	last := 0
	for _, m := range ms {
		out = append(out, s[last:m[0]]...)
		out = ru.re.ExpandString(out, ru.repl, s, m)
		last = m[1]
	}
	out = append(out, s[last:]...)
	return string(out), len(ms)
}
