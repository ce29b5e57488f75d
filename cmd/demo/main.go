// Command demo serves a multi-room chat page, its Socket.IO endpoint and
// the server's Prometheus metrics at /metrics; the events and the page are
// in package chatdemo. The page loads socket.io-client from the demo, which
// serves the copy `npm ci` put in node_modules (found in the working
// directory or a parent), or the file of -client-js; it tries the CDN when
// neither is there. With -admin it also serves the admin namespace of
// package admin and, when it finds the built dashboard of
// @socket.io/admin-ui (in node_modules under the working directory, or the
// directory of -admin-ui), the dashboard at /admin/ui/.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
)

// passwordEnv is where the admin password comes from when -admin-password
// is not given, to keep it off the command line.
const passwordEnv = "ACTORIO_ADMIN_PASSWORD"

// config is the demo's command line.
type config struct {
	addr, clientJS string

	admin                    bool
	adminUser, adminPassword string
	adminReadOnly            bool
	adminUI                  string
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		os.Exit(2) // the error and the usage are printed
	}
	if err := run(cfg, log); err != nil {
		log.Error("demo stopped", "err", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line args; getenv supplies the admin
// password when no flag gives one.
func parseFlags(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:3000", "address to listen on")
	fs.StringVar(&cfg.clientJS, "client-js", "", "serve this copy of socket.io.min.js at "+chatdemo.ClientJSPath+" (default: the one in "+chatdemo.ClientDist+" if present; the page tries the CDN when the demo serves none)")
	fs.BoolVar(&cfg.admin, "admin", false, "serve the admin namespace /admin for the Socket.IO admin dashboard")
	fs.StringVar(&cfg.adminUser, "admin-user", chatdemo.DefaultAdminUser, "user name the admin dashboard logs in with")
	fs.StringVar(&cfg.adminPassword, "admin-password", "", "password the admin dashboard logs in with (default $"+passwordEnv+"; none: anyone may use /admin)")
	fs.BoolVar(&cfg.adminReadOnly, "admin-readonly", false, "let the admin dashboard watch only (no emit, join, leave, disconnect)")
	fs.StringVar(&cfg.adminUI, "admin-ui", "", "serve the admin dashboard from this directory at "+chatdemo.AdminUIPath+" (default "+chatdemo.AdminUIDist+" if present)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(usage, err)
		fs.Usage()
		return config{}, err
	}
	if cfg.adminPassword == "" {
		cfg.adminPassword = getenv(passwordEnv)
	}
	return cfg, nil
}

func run(cfg config, log *slog.Logger) error {
	srv, h, closeAdmin, attrs, err := setup(cfg, log)
	if err != nil {
		return err
	}
	defer closeAdmin()
	return chatdemo.ServeHandler(srv, h, cfg.addr, log, "demo listening", attrs...)
}

// setup makes the demo's server and handler as cfg says; closeAdmin
// stops the admin namespace, and attrs describe, for the log, where the
// page's socket.io-client and the admin dashboard come from.
func setup(cfg config, log *slog.Logger) (srv *actorio.Server, h http.Handler, closeAdmin func(), attrs []any, err error) {
	var clientDir string
	switch {
	case cfg.clientJS != "":
		fi, err := os.Stat(cfg.clientJS)
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%s is not a file", cfg.clientJS)
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("-client-js: %w", err)
		}
		attrs = append(attrs, "client_js", cfg.clientJS)
	default:
		if clientDir, err = chatdemo.FindClientDir(); err != nil {
			return nil, nil, nil, nil, err
		}
		if clientDir == "" {
			log.Warn("socket.io-client not found in " + chatdemo.ClientDist + " (run npm ci, or give -client-js FILE): the page will try its CDN")
		} else {
			attrs = append(attrs, "client_js", filepath.Join(clientDir, "socket.io.min.js"))
		}
	}
	srv, err = actorio.NewServer(actorio.Options{Logger: log, ClientDir: clientDir})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	chatdemo.Register(srv)
	opts := chatdemo.Options{ClientJS: cfg.clientJS}
	closeAdmin = func() {}
	if !cfg.admin {
		if cfg.adminUI != "" {
			log.Warn("-admin-ui is ignored without -admin")
		}
		return srv, chatdemo.NewHandler(srv, opts), closeAdmin, attrs, nil
	}
	fail := func(err error) (*actorio.Server, http.Handler, func(), []any, error) {
		_ = srv.Close()
		return nil, nil, nil, nil, err
	}
	if opts.AdminUI, err = chatdemo.FindAdminUI(cfg.adminUI); err != nil {
		return fail(err)
	}
	a, err := chatdemo.InstrumentAdmin(srv, chatdemo.AdminOptions{
		User: cfg.adminUser, Password: cfg.adminPassword, ReadOnly: cfg.adminReadOnly, Logger: log,
	})
	if err != nil {
		return fail(err)
	}
	if opts.AdminUI == "" {
		log.Warn("admin dashboard not served: " + chatdemo.AdminUIDist + " not found (run npm ci, or give -admin-ui DIR)")
	} else {
		attrs = append(attrs, "admin_ui", "http://"+cfg.addr+chatdemo.AdminUIPath)
	}
	return srv, chatdemo.NewHandler(srv, opts), a.Close, attrs, nil
}
