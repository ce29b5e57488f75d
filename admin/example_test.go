package admin_test

import (
	"log"
	"net/http"

	"golang.org/x/crypto/bcrypt"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/admin"
)

// The admin namespace with a login, and the dashboard of the npm package
// @socket.io/admin-ui served from the same origin.
func ExampleInstrument() {
	srv, err := actorio.NewServer(actorio.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte("change me"), bcrypt.DefaultCost)
	if err != nil {
		log.Fatal(err)
	}
	dash, err := admin.Instrument(srv, admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer dash.Close()

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ui := http.Dir("node_modules/@socket.io/admin-ui/ui/dist")
	mux.Handle("/admin/ui/", http.StripPrefix("/admin/ui/", http.FileServer(ui)))
	_ = http.ListenAndServe("127.0.0.1:3000", mux) // log in at http://127.0.0.1:3000/admin/ui/
}
