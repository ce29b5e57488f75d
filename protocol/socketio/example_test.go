package socketio_test

import (
	"fmt"

	"github.com/actorio/actorio/protocol/socketio"
)

func ExampleDecode() {
	p, err := socketio.Decode([]byte(`2/admin,12["project:delete",123]`))
	if err != nil {
		panic(err)
	}
	name, args, _ := socketio.EventName(p.Data)
	fmt.Println(p.Type, p.Namespace, p.ID, name, string(args[0]))
	// Output: EVENT /admin 12 project:delete 123
}

func ExampleMarshalArgs() {
	data, atts, err := socketio.MarshalArgs("upload", "<file>", []byte{1, 2, 3})
	if err != nil {
		panic(err)
	}
	p := socketio.Packet{Type: socketio.BinaryEvent, Namespace: "/", Data: data, Attachments: len(atts)}
	fmt.Println(string(socketio.AppendEncode(nil, p)), len(atts))
	// Output: 51-["upload","<file>",{"_placeholder":true,"num":0}] 1
}
