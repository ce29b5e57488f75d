package differential

// knownDifferences maps a scenario of runner.mjs to the exact difference
// its recordings show (see knownDiff), as diffRecordings prints it (- Node
// only, + actorio only), for the differences DIFFERENCES.md explains.
// Delete an entry once actorio behaves as Node; -update-known rewrites
// this file from what the servers do now.
var knownDifferences = map[string]knownDiff{
	"disconnect/parse-error": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"disconnect/ping-timeout": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
  ["recv","2"]
- ["close",1005]
+ ["close",1006]
`,
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
  ["recv","2"]
- ["close",1005]
+ ["close",1000]
`,
	},
	"heartbeat/client-sent-ping": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}]
- ["close",1005]
+ ["close",1000]
`,
	},
	"heartbeat/connect-timeout": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}]
  ["recv","2"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
`,
	},
	"http/cross-origin-handshake": {
		`
client a:
- ["http","GET",200,"text/plain; charset=UTF-8",["0",{"sid":"<a:sid1>","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]]
+ ["http","GET",403,"application/json",{"code":4,"message":"Forbidden"}]
`,
	},
	"http/polling-bad-payload": {
		`
client a:
  ["http","GET",200,"text/plain; charset=UTF-8",["0",{"sid":"<a:sid1>","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]]
- ["http","POST",200,"text/html","ok"]
+ ["http","POST",400,"application/json",{"code":3,"message":"Bad request"}]
  ["http","GET",400,"application/json",{"code":1,"message":"Session ID unknown"}]
`,
	},
	"http/polling-overlapping-get": {
		`
client a:
  ["http","GET",200,"text/plain; charset=UTF-8",["0",{"sid":"<a:sid1>","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]]
- ["http","GET",400,null,""]
+ ["http","GET",400,"application/json",{"code":3,"message":"Bad request"}]
`,
	},
	"limit/polling-over-limit": {
		`
client a:
  ["connect",{"id":"<a:id1>","sid":"<a:sid1>","pid":null}]
  ["ack","xxxxxxxxxxxxxxxxxxxx…(900 chars)"]
- ["disconnect","transport error"]
+ ["disconnect","transport close"]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ transport close"]]
+ ["reasons",["/ transport error"]]
`,
		`
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ transport close"]]
+ ["reasons",["/ transport error"]]
`,
	},
	"limit/polling-over-limit-raw": {
		`
client a:
  ["http","GET",200,"text/plain; charset=UTF-8",["0",{"sid":"<a:sid1>","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000}]]
  ["http","POST",200,"text/html","ok"]
  ["http","GET",200,"text/plain; charset=UTF-8","40{\"sid\":\"<a:id1>\"}"]
- ["http","POST",413,null,""]
- ["http","POST",200,"text/html","ok"]
- ["http","GET",200,"text/plain; charset=UTF-8","42[\"echo\",\"small\"]"]
+ ["http","POST",413,"text/plain; charset=UTF-8","payload too large, max 1000"]
+ ["http","POST",400,"application/json",{"code":1,"message":"Session ID unknown"}]
+ ["http","GET",400,"application/json",{"code":1,"message":"Session ID unknown"}]
`,
	},
	"malformed/ack-not-array": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/bad-json": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/bad-type": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/binary-without-attachments-count": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/connect-auth-not-object": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
`,
	},
	"malformed/event-name-not-string": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/event-not-array": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","1"]
+ ["close",1000]
client w:
  ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/numeric-event-name": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["recv","42[\"echo\",\"alive\"]"]
+ ["recv","1"]
+ ["close",1000]
client w:
+ ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
+ ["reasons",["/ parse error"]]
`,
	},
	"malformed/reserved-event-name": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","42[\"echo\",\"alive\"]"]
client w:
- ["connect",{"id":"<w:id1>","sid":"<w:sid1>","pid":null}]
- ["reasons",["/ forced close"]]
`,
	},
	"malformed/unknown-engine-type": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["close",1000]
`,
	},
	"namespace/dynamic-child-cleanup-when-empty": {
		`
client b:
  ["connect",{"id":"<b:id1>","sid":"<b:sid1>","pid":null}]
- ["event","seq","/dyn-198985558301",1]
+ ["event","seq","/dyn-198985558301",2]
  ["ack","done"]
`,
	},
	"raw/duplicate-connect": {
		`
client a:
  ["ws-open"]
  ["recv","0",{"sid":"<a:sid1>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}]
  ["recv","40{\"sid\":\"<a:id1>\"}"]
- ["close",1005]
+ ["recv","42[\"echo\",\"after\"]"]
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
	"recovery/restored-with-missed-events": {
		`
client a:
  ["connect",{"id":"<a:id1>","sid":"<a:sid1>","pid":"<a:pid1>","recovered":false}]
  ["event","welcome","/",false,"<off1>"]
  ["ack","done"]
  ["event","live",1,"<off2>"]
  ["ack","done"]
  ["disconnect","forced close"]
+ ["connect",{"id":"<a:id1>","sid":"<a:sid2>","pid":"<a:pid1>","recovered":true}]
  ["event","missed",2,"<off3>"]
  ["event","missed",3,{"$bin":"03"},"<off4>"]
- ["connect",{"id":"<a:id1>","sid":"<a:sid2>","pid":"<a:pid1>","recovered":true}]
  ["event","welcome","/",true,"<off5>"]
  ["event","rooms",["<a:id1>","recovery-restored-with-missed-events-1"],"<off6>"]
  ["event","whoami",{"nsp":"/","id":"<a:id1>","auth":{"pid":"<a:pid1>","offset":"<off2>","greet":true},"recovered":true},"<off7>"]
  ["ack","done"]
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
