package chatdemo

import (
	"fmt"
	"os"
	"path/filepath"
)

// ClientDist is where `npm ci` puts the browser bundles of
// socket.io-client, relative to the module root.
const ClientDist = "node_modules/socket.io-client/dist"

// FindClientDir returns the ClientDist directory (one with socket.io.js, which
// actorio.Options.ClientDir requires, and socket.io.min.js, which the page
// loads) of the working directory or, failing that, of the nearest parent
// directory that has one (as Node
// looks for a package), so that the demo finds the module root's copy when
// run from any directory of the module. It returns "" and no error when
// there is none.
func FindClientDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("look for %s: %w", ClientDist, err)
	}
	return findUp(wd, filepath.FromSlash(ClientDist), "socket.io.js", "socket.io.min.js"), nil
}

// findUp returns the first of dir/rel, its parent's rel, and so on up to
// the root, that holds every one of files, or "".
func findUp(dir, rel string, files ...string) string {
	for {
		d := filepath.Join(dir, rel)
		if holds(d, files) {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// holds reports whether every one of files is a regular file in dir.
func holds(dir string, files []string) bool {
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}
