package chatdemo

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
)

// AdminUIPath is where NewHandler serves the admin dashboard.
const AdminUIPath = "/admin/ui/"

// AdminUIDist is where `npm ci` puts the built dashboard of
// @socket.io/admin-ui, relative to the module root.
const AdminUIDist = "node_modules/@socket.io/admin-ui/ui/dist"

// DefaultAdminUser is the user name the dashboard logs in with unless
// AdminOptions.User says otherwise.
const DefaultAdminUser = "admin"

// AdminOptions configures InstrumentAdmin.
type AdminOptions struct {
	// User is the user name to log in with; DefaultAdminUser when empty.
	User string
	// Password is the password in plain text; InstrumentAdmin keeps only
	// its bcrypt hash. Empty opens the admin namespace to anyone.
	Password string
	// ReadOnly lets the dashboards watch only: no emit, join, leave or
	// disconnect.
	ReadOnly bool
	// Logger receives the admin namespace's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// InstrumentAdmin adds the admin namespace (package admin, at
// admin.DefaultNamespace) to srv. With a password, a dashboard must log in
// with User and Password; without one, the namespace is open to anyone who
// reaches the server, which is logged at Warn. Close the result before
// or after srv.
func InstrumentAdmin(srv *actorio.Server, opts AdminOptions) (*admin.Admin, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	aopts := admin.Options{ReadOnly: opts.ReadOnly, Logger: log}
	if opts.Password == "" {
		aopts.NoAuth = true
		log.Warn("the admin namespace is open to anyone: no admin password given",
			"nsp", admin.DefaultNamespace)
	} else {
		user := opts.User
		if user == "" {
			user = DefaultAdminUser
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("hash the admin password: %w", err)
		}
		aopts.Auth = &admin.BasicAuth{Username: user, PasswordHash: string(hash)}
	}
	return admin.Instrument(srv, aopts)
}

// FindAdminUI returns the dashboard directory to serve: dir when set (it
// must hold the dashboard's index.html), else AdminUIDist under the
// working directory if it is there, else "" and no error.
func FindAdminUI(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
			return "", fmt.Errorf("admin dashboard directory: %w", err)
		}
		return dir, nil
	}
	if _, err := os.Stat(filepath.Join(filepath.FromSlash(AdminUIDist), "index.html")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("admin dashboard directory: %w", err)
	}
	return filepath.FromSlash(AdminUIDist), nil
}

// adminUI serves the files of dir under AdminUIPath.
func adminUI(dir string) http.Handler {
	return http.StripPrefix(strings.TrimSuffix(AdminUIPath, "/"), http.FileServer(http.Dir(dir)))
}
