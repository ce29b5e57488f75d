// Package libcompare measures the msgpack translation of package
// protocol/msgpack against the same job done with two msgpack libraries,
// github.com/vmihailenco/msgpack/v5 and github.com/tinylib/msgp: from a
// Socket.IO text frame and its attachments to the npm
// socket.io-msgpack-parser's bytes, and back. Run it from this directory:
//
//	go test -bench . -benchmem
//
// It is a module of its own so that the libraries stay out of actorio's
// dependencies; nothing imports it.
package libcompare
