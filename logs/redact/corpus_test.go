package redact

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The corpus files in testdata/corpus hold examples per detector, one
// per line:
//
//	# a comment
//	- a line that must come out unchanged
//	+ a line with something to mask
//	= the same line masked
//
// <detector>.txt runs with only that detector on; all.txt with every
// built-in detector on.
func TestCorpus(t *testing.T) {
	files := map[string]Options{
		"secret.txt":      {Secrets: true},
		"credit_card.txt": {CreditCards: true},
		"email.txt":       {Emails: true},
		"ip_address.txt":  {IPAddresses: true},
		"all.txt":         {Secrets: true, CreditCards: true, Emails: true, IPAddresses: true},
	}
	found, _ := filepath.Glob("testdata/corpus/*.txt")
	if len(found) != len(files) {
		t.Fatalf("testdata/corpus holds %d files, want %d: %v", len(found), len(files), found)
	}
	for name, o := range files {
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			r, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			cases := readCorpus(t, filepath.Join("testdata/corpus", name))
			var pos, neg int
			for _, c := range cases {
				got, n := r.redactValue(c.in)
				switch {
				case got != c.want:
					t.Errorf("%s:%d:\n in: %s\ngot: %s\nwant: %s", name, c.line, c.in, got, c.want)
				case c.in == c.want && n != 0:
					t.Errorf("%s:%d: nothing changed but %d values counted as masked", name, c.line, n)
				case c.in != c.want && n == 0:
					t.Errorf("%s:%d: masked but counted 0", name, c.line)
				}
				if again, _ := r.redactValue(got); again != got {
					t.Errorf("%s:%d: masking again changed\n%s\nto\n%s", name, c.line, got, again)
				}
				if c.in == c.want {
					neg++
				} else {
					pos++
				}
			}
			if pos < 10 || neg < 10 {
				t.Errorf("%s: %d positive and %d negative examples; want at least 10 of each", name, pos, neg)
			}
		})
	}
}

type corpusCase struct {
	line     int
	in, want string
}

func readCorpus(t *testing.T, path string) []corpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if len(l) < 2 || l[1] != ' ' {
			t.Fatalf("%s:%d: want '- ', '+ ' or '= ' at the start of %q", path, line, l)
		}
		text := unescape(l[2:])
		switch l[0] {
		case '-':
			cases = append(cases, corpusCase{line, text, text})
		case '+':
			cases = append(cases, corpusCase{line: line, in: text})
		case '=':
			if len(cases) == 0 || cases[len(cases)-1].want != "" || cases[len(cases)-1].in == cases[len(cases)-1].want {
				t.Fatalf("%s:%d: '=' without a '+' line before it", path, line)
			}
			cases[len(cases)-1].want = text
		default:
			t.Fatalf("%s:%d: unknown marker %q", path, line, l[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.want == "" {
			t.Fatalf("%s:%d: '+' line without its '=' line", path, c.line)
		}
	}
	return cases
}

// unescape reads \n in corpus lines as a newline (PEM blocks, multi-line
// bodies); a literal backslash-n is written \\n.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
