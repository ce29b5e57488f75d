package chatdemo

import (
	"embed"
	"io/fs"
	"net/http"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actorio/actorio"
	actorioprom "github.com/actorio/actorio/metrics/prometheus"
)

//go:embed static
var static embed.FS

// ClientJSPath is where Handler serves the local copy of socket.io-client,
// the page's fallback when its CDN copy does not load.
const ClientJSPath = "/socket.io.min.js"

// Handler serves srv's endpoint at /socket.io/, the chat page at /, and
// srv's Prometheus metrics at /metrics. When clientJS is not empty, that
// file (socket.io-client's dist/socket.io.min.js) is served at
// ClientJSPath.
func Handler(srv *actorio.Server, clientJS string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	reg := prom.NewRegistry()
	reg.MustRegister(actorioprom.NewCollector(srv))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	page, _ := fs.Sub(static, "static")
	mux.Handle("/", http.FileServerFS(page))
	if clientJS != "" {
		mux.HandleFunc(ClientJSPath, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, clientJS) })
	}
	return mux
}
