package tests

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio"
)

// gameActor is an application's actor: it gets the "move" events of the
// sockets (Namespace.Forward), acks them, and answers each with a "moved"
// broadcast to the arena and a "private" event to the mover alone, both as
// Emit messages to the server's entry actor; it records the results.
type gameActor struct {
	srv     *actorio.Server
	results chan error
}

func (g *gameActor) Receive(ctx actor.Context) {
	ev, ok := ctx.Message().(*actorio.SocketEvent)
	if !ok || ev.Event != "move" {
		return
	}
	if ev.Ack != nil {
		_ = ev.Ack("ok", ev.Socket.ID())
	}
	ctx.Send(g.srv.PID(), &actorio.Emit{Rooms: []string{"arena"}, Event: "moved", Args: []any{ev.Socket.ID(), ev.Args.String(0)}})
	res, err := ctx.RequestFuture(g.srv.PID(), &actorio.Emit{Rooms: []string{ev.Socket.ID()}, Event: "private", Args: []any{"for you"}}, step).Result()
	if err == nil {
		err = res.(*actorio.EmitResult).Err
	}
	g.results <- err
}

// TestProtoactorApplication runs the server on an application's actor
// system: the application's actor gets socket events as messages and emits
// to a room and to one socket by id with messages, and the application's
// system outlives the server's Close.
func TestProtoactorApplication(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown) // after the server's cleanup, registered later
	game := &gameActor{results: make(chan error, 4)}
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return game }), "game")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, actorio.Options{ActorSystem: sys}, func(srv *actorio.Server) {
		game.srv = srv
		srv.OnConnection(func(s *actorio.Socket) { s.Join("arena") })
		srv.Of("/").Forward(pid, "move")
	})
	// A second server on the same system: their actors' names must not clash.
	other, err := actorio.NewServer(actorio.Options{ActorSystem: sys})
	if err != nil {
		t.Fatalf("second server on the same actor system: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}

	c := startClients(t, ts)
	idA := c.connect("a", "/", wsOnly)
	idB := c.connect("b", "/", with(wsOnly, "forceNew", true))

	l := c.emitAck("a", "move", "north")
	if l.Arg(2) != "ok" || l.Arg(3) != idA {
		t.Fatalf("ack %s, want ok and %s", l.Raw, idA)
	}
	if err := recv(t, game.results, step, "the game actor's emit"); err != nil {
		t.Fatalf("Emit by request: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		if l := c.expectEvent(name, "moved"); l.Arg(3) != idA || l.Arg(4) != "north" {
			t.Errorf("%s got %s", name, l.Raw)
		}
	}
	if l := c.expectEvent("a", "private"); l.Arg(3) != "for you" {
		t.Errorf("a got %s", l.Raw)
	}
	// An event not forwarded does not reach the actor.
	c.emit("b", "chat", "hi")
	select {
	case err := <-game.results:
		t.Fatalf("the game actor got a chat event (result %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.noEvent("b", "private")
	_ = idB

	// The application's system outlives the server.
	if err := ts.Srv.Close(); err != nil {
		t.Fatal(err)
	}
	probe, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(string); ok {
			ctx.Respond("alive")
		}
	}), "probe")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sys.Root.RequestFuture(probe, "ping", step).Result(); err != nil || res != "alive" {
		t.Fatalf("application system after Close: %v, %v", res, err)
	}
}
