// Package defaults tests actorio as a user gets it: servers built with
// actorio.Options{} and clients with their default options, at real time
// scales.
package defaults
