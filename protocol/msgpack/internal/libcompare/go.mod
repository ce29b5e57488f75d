// A module of its own, so that the msgpack libraries compared here stay
// out of actorio's dependencies: it builds against the actorio of this
// repository.
module github.com/actorio/actorio/protocol/msgpack/internal/libcompare

go 1.26.8

require (
	github.com/actorio/actorio v0.0.0
	github.com/tinylib/msgp v1.6.5
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace github.com/actorio/actorio => ../../../..
