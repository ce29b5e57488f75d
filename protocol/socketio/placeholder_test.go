package socketio

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// placeholderTests are the placeholder scanner cases; they also seed FuzzCheckPlaceholders.
var placeholderTests = []struct {
	in        string
	has       bool
	count     int
	countErr  error
	announced int
	checkErr  error
}{
	{`["a"]`, false, 0, nil, 0, nil},
	{`["a"]`, false, 0, nil, 1, ErrBadPlaceholder},
	{`["a",{"_placeholder":true,"num":0}]`, true, 1, nil, 1, nil},
	{`["a",{"_placeholder":true,"num":0}]`, true, 1, nil, 0, ErrBadPlaceholder},
	{`["a",{"_placeholder":true,"num":0}]`, true, 1, nil, 2, ErrBadPlaceholder},
	{`["a",{"num":1,"_placeholder":true},{"x":[{"_placeholder":true,"num":0}]}]`, true, 2, nil, 2, nil},
	{`["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, true, 2, nil, 2, ErrBadPlaceholder},
	{`["a",{"_placeholder":true,"num":1}]`, true, 1, nil, 1, ErrBadPlaceholder},
	{`["a",{"_placeholder":true,"num":-1}]`, true, 0, ErrBadPlaceholder, 1, ErrBadPlaceholder},
	{`["a",{"_placeholder":true,"num":"0"}]`, true, 0, ErrBadPlaceholder, 1, ErrBadPlaceholder},
	{`["a",{"\u005fplaceholder":true,"num":0}]`, true, 1, nil, 1, nil},
	{`["a","{\"_placeholder\":true,\"num\":0}"]`, false, 0, nil, 0, nil},
	{`["a",{"_placeholder":false,"num":0}]`, false, 0, nil, 0, nil},
	{`["a",{"_placeholder":true,"num":0,"more":1}]`, false, 0, nil, 0, nil},
	{`{"_placeholder":true,"num":0}`, true, 1, nil, 1, nil},
	{`["a",{"_placeholder":true,"num":0}`, false, 0, ErrInvalidJSON, 1, ErrInvalidJSON},
	{`not json`, false, 0, ErrInvalidJSON, 0, ErrInvalidJSON},
	{strings.Repeat(`{"num":`, 3000) + "1" + strings.Repeat("}", 3000), false, 0, nil, 0, nil},
}

func TestPlaceholders(t *testing.T) {
	for _, tt := range placeholderTests {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			raw := []byte(tt.in)
			if got := HasPlaceholder(raw); got != tt.has {
				t.Errorf("HasPlaceholder = %v, want %v", got, tt.has)
			}
			n, err := CountPlaceholders(raw)
			if !errors.Is(err, tt.countErr) || (err == nil && n != tt.count) {
				t.Errorf("CountPlaceholders = %d, %v; want %d, %v", n, err, tt.count, tt.countErr)
			}
			if err := CheckPlaceholders(raw, tt.announced); !errors.Is(err, tt.checkErr) {
				t.Errorf("CheckPlaceholders(%d) = %v, want %v", tt.announced, err, tt.checkErr)
			}
		})
	}
}

func TestCheckPlaceholdersAnnounced(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`["a"`)
	for i := MaxAttachments - 1; i >= 0; i-- {
		sb.WriteString(`,{"_placeholder":true,"num":`)
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(`}`)
	}
	sb.WriteString(`]`)
	if err := CheckPlaceholders([]byte(sb.String()), MaxAttachments); err != nil {
		t.Errorf("CheckPlaceholders(MaxAttachments) = %v", err)
	}
	for _, n := range []int{-1, MaxAttachments + 1} {
		if err := CheckPlaceholders([]byte(`[]`), n); !errors.Is(err, ErrBadPlaceholder) {
			t.Errorf("CheckPlaceholders(%d) = %v, want ErrBadPlaceholder", n, err)
		}
	}
}
