package chatdemo

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actorio/actorio"
	actorioprom "github.com/actorio/actorio/metrics/prometheus"
)

//go:embed static
var static embed.FS

// ClientJSPath is where the page loads socket.io-client from before it
// tries the CDN: the server's endpoint path, where an actorio.Server with
// Options.ClientDir serves the bundles of socket.io-client's dist directory
// (see FindClientDir), as Node's serveClient does. Options.ClientJS
// replaces that copy.
const ClientJSPath = "/socket.io/socket.io.min.js"

// Options configures NewHandler; the zero value serves the chat alone.
type Options struct {
	// ClientJS, when set, is a copy of socket.io-client's
	// dist/socket.io.min.js, served at ClientJSPath in place of the
	// server's.
	ClientJS string
	// AdminUI, when set, is the directory of the admin dashboard's built
	// files (see AdminUIDist), served at AdminUIPath. The dashboard logs
	// in to the admin namespace, which InstrumentAdmin adds.
	AdminUI string
}

// Handler serves srv's endpoint at /socket.io/, the chat page at /, and
// srv's Prometheus metrics at /metrics. When clientJS is not empty, that
// file (socket.io-client's dist/socket.io.min.js) is served at
// ClientJSPath.
func Handler(srv *actorio.Server, clientJS string) http.Handler {
	return NewHandler(srv, Options{ClientJS: clientJS})
}

// NewHandler is Handler with opts: it also serves the admin dashboard
// when opts.AdminUI is set.
func NewHandler(srv *actorio.Server, opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	reg := prom.NewRegistry()
	reg.MustRegister(actorioprom.NewCollector(srv))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	page, _ := fs.Sub(static, "static")
	mux.Handle("/", http.FileServerFS(page))
	if opts.ClientJS != "" {
		mux.HandleFunc("GET "+ClientJSPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
			http.ServeFile(w, r, opts.ClientJS)
		})
	}
	if opts.AdminUI != "" {
		mux.Handle(AdminUIPath, adminUI(opts.AdminUI))
		// The dashboard's asset paths are relative to its directory.
		mux.Handle(strings.TrimSuffix(AdminUIPath, "/"), http.RedirectHandler(AdminUIPath, http.StatusMovedPermanently))
	}
	return mux
}
