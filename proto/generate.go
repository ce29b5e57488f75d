// Package actoriopb holds the protobuf messages that actorio's actors exchange.
package actoriopb

//go:generate protoc --go_out=. --go_opt=paths=source_relative actorio.proto
