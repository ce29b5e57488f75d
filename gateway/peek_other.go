//go:build !linux && !darwin

package gateway

// peekReadable reports true at once: without a portable way to peek at a
// socket, waitReadable does not wait and the WebSocket reader does.
func peekReadable(uintptr) bool { return true }
