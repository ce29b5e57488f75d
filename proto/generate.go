// Package actoriopb holds the protobuf messages that actorio's nodes exchange, and the broadcast and target they carry.
package actoriopb

//go:generate protoc --go_out=. --go_opt=paths=source_relative actorio.proto
