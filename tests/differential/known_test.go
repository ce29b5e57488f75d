package differential

// knownDifferences maps a scenario of runner.mjs to the exact difference
// its recordings show (see knownDiff), as diffRecordings prints it (- Node
// only, + actorio only), for the differences DIFFERENCES.md explains.
// Delete an entry once actorio behaves as Node; -update-known rewrites
// this file from what the servers do now.
var knownDifferences = map[string]knownDiff{
	"disconnect/parse-error": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"http/cross-origin-handshake": {
		`
client a:
- ["http","GET",200,"text/plain; charset=UTF-8",["0",{"sid":"<a:sid1>","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]]
+ ["http","GET",403,"application/json",{"code":4,"message":"Forbidden"}]
`,
	},
	"js/polling/parse-error": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"js/websocket/parse-error": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/ack-not-array": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/bad-json": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/bad-type": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/binary-without-attachments-count": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/event-name-not-string": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/event-not-array": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/reserved-event-name": {
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"namespace/dynamic-child-kept-when-empty": {
		`
client b:
  ["connect",{"id":"<b:id1>","sid":"<b:sid1>","pid":null}]
- ["event","seq","/dyn-35642806701",2]
+ ["event","seq","/dyn-35642806701",1]
  ["ack","done"]
`,
	},
	"raw/event-to-unjoined-namespace": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
- ["timeout","recv 42"]
+ ["recv","42[\"echo\",\"kept\"]"]
`,
	},
	"volatile/emit-then-volatile": {
		`
client a:
  ["connect",{"id":"<a:id1>","sid":"<a:sid1>","pid":null}]
  ["event","a"]
+ ["event","b"]
  ["event","c"]
  ["ack","done"]
- ["timeout","event b #1"]
`,
	},
}
