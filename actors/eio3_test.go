package actors

import "testing"

func TestV2Connect(t *testing.T) {
	for _, tt := range []struct {
		in, nsp, auth string
	}{
		{"/admin", "/admin", ""},
		{"/admin?token=x", "/admin", `{"token":"x"}`},
		{"/admin?", "/admin", ""},
		{"/a?b=1&c=2&b=3", "/a", `{"b":"3","c":"2"}`},
		{"/a?x=%C3%A9+y&flag&=v&&", "/a", `{"x":"é y","flag":"","":"v"}`},
		{"/a?bad=%zz+1", "/a", `{"bad":"%zz 1"}`},
		{"/a?q=%22%5C", "/a", `{"q":"\"\\"}`},
	} {
		nsp, auth := v2Connect(tt.in)
		if nsp != tt.nsp || string(auth) != tt.auth {
			t.Errorf("v2Connect(%q) = %q, %s; want %q, %s", tt.in, nsp, auth, tt.nsp, tt.auth)
		}
	}
}

func TestV2SocketID(t *testing.T) {
	if got := v2SocketID("/", "abc"); got != "abc" {
		t.Errorf("main namespace: %q", got)
	}
	if got := v2SocketID("/admin", "abc"); got != "/admin#abc" {
		t.Errorf("/admin: %q", got)
	}
}

func TestV2ErrorPayload(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"message":"not allowed"}`, `"not allowed"`},
		{`{"message":"no","data":{"code":42}}`, `{"code":42}`},
		{`{"message":"no","data":[]}`, `[]`},
		{`{"message":"no","data":"why"}`, `"why"`},
		{`{"message":"no","data":1.5}`, `1.5`},
		{`{"message":"no","data":null}`, `"no"`},
		{`{"message":"no","data":false}`, `"no"`},
		{`{"message":"no","data":0}`, `"no"`},
		{`{"message":"no","data":-0.0}`, `"no"`},
		{`{"message":"no","data":""}`, `"no"`},
		{`not json`, `not json`},
	} {
		if got := string(v2ErrorPayload([]byte(tt.in))); got != tt.want {
			t.Errorf("v2ErrorPayload(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
