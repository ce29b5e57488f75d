package actorio

import (
	"net/http"
	"reflect"
	"testing"
)

// TestDropDoubled checks which headers of an owner's answer the node that
// handed the request over drops, given the headers it set itself.
func TestDropDoubled(t *testing.T) {
	for _, tc := range []struct {
		name       string
		set, owner http.Header
		want       http.Header
	}{
		{
			name:  "any origin",
			set:   http.Header{"Access-Control-Allow-Origin": {"*"}},
			owner: http.Header{"Access-Control-Allow-Origin": {"*"}, "Content-Type": {"text/plain; charset=UTF-8"}},
			want:  http.Header{"Content-Type": {"text/plain; charset=UTF-8"}},
		},
		{
			name: "listed origin with credentials",
			set: http.Header{"Access-Control-Allow-Origin": {"https://a.example"}, "Access-Control-Allow-Credentials": {"true"},
				"Vary": {"Origin"}},
			owner: http.Header{"Access-Control-Allow-Origin": {"https://a.example"}, "Access-Control-Allow-Credentials": {"true"},
				"Vary": {"Origin, Accept-Encoding"}, "Content-Encoding": {"gzip"}},
			want: http.Header{"Vary": {"Accept-Encoding"}, "Content-Encoding": {"gzip"}},
		},
		{
			name:  "vary compared without case, every value",
			set:   http.Header{"Vary": {"origin", "Access-Control-Request-Headers"}},
			owner: http.Header{"Vary": {"Origin", "access-control-request-headers, Accept-Encoding"}},
			want:  http.Header{"Vary": {"Accept-Encoding"}},
		},
		{
			name:  "nothing set here",
			set:   http.Header{},
			owner: http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}},
			want:  http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}},
		},
		{
			name:  "vary left empty",
			set:   http.Header{"Vary": {"Origin"}},
			owner: http.Header{"Vary": {"Origin"}},
			want:  http.Header{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dropDoubled(tc.owner, tc.set)
			if !reflect.DeepEqual(tc.owner, tc.want) {
				t.Fatalf("got %v, want %v", tc.owner, tc.want)
			}
		})
	}
}
