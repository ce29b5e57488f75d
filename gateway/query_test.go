package gateway

import (
	"net/url"
	"strings"
	"testing"
)

func TestQueryValue(t *testing.T) {
	many := strings.Repeat("x=1&", maxScannedParams) + "sid=last"
	for _, tc := range []struct {
		raw, key, want string
	}{
		{"EIO=4&transport=polling&t=Pb1&sid=abc", "sid", "abc"},
		{"EIO=4&transport=polling", "sid", ""},
		{"sid=a&sid=b", "sid", "a"},
		{"sid=&sid=b", "sid", ""},
		{"sid", "sid", ""},
		{"s%69d=x", "sid", "x"},
		{"sid=a%2Bb+c", "sid", "a+b c"},
		{"sid=bad%zz&sid=good", "sid", "good"},
		{"sid=a;b&sid=c", "sid", "c"},
		{"&&sid=x&", "sid", "x"},
		{"transport=websocket%20", "transport", "websocket "},
		{"", "sid", ""},
		{many, "sid", "last"},
	} {
		if got := queryValue(tc.raw, tc.key); got != tc.want {
			t.Errorf("queryValue(%q, %q) = %q, want %q", tc.raw, tc.key, got, tc.want)
		}
		q, _ := url.ParseQuery(tc.raw)
		if got := q.Get(tc.key); got != tc.want {
			t.Errorf("url.ParseQuery(%q).Get(%q) = %q; the table is wrong", tc.raw, tc.key, got)
		}
	}
}

// FuzzQueryValue holds queryValue, and queryValues with the keys
// requests are routed by, to url.ParseQuery's answers.
func FuzzQueryValue(f *testing.F) {
	f.Add("EIO=4&transport=polling&t=Pb1&sid=abc", "sid")
	f.Add("s%69d=a%2Bb+c&sid=2", "sid")
	f.Add("sid=a;b&sid=%zz&sid=ok&EIO=3&EIO=4", "EIO")
	f.Fuzz(func(t *testing.T, raw, key string) {
		q, _ := url.ParseQuery(raw)
		if got, want := queryValue(raw, key), q.Get(key); got != want {
			t.Errorf("queryValue(%q, %q) = %q, url.ParseQuery gives %q", raw, key, got, want)
		}
		var got [3]string
		queryValues(raw, engineQueryKeys[:], got[:])
		for i, k := range engineQueryKeys {
			if want := q.Get(k); got[i] != want {
				t.Errorf("queryValues(%q): %s = %q, url.ParseQuery gives %q", raw, k, got[i], want)
			}
		}
	})
}
