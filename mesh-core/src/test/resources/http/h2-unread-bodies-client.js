// Node's http2 client for L7H2UnreadBodiesTest: CONNECTIONS sessions, each with STREAMS requests POST /unreadI whose
// BYTES of body are written and never ended, to an application that does not read them. Prints "stalled RESETS WRITTEN" once
// the sessions have written all the proxy lets them (at least AT_LEAST bytes, then nothing for a second), RESETS the streams reset with an error
// code meanwhile (not the budget's NO_ERROR: L7H2UnreadBodiesTest counts those in the proxy), WRITTEN the bytes written to the sockets. Commands on stdin: "free" opens one more session and POSTs 200,000
// bytes to /free, printing {"id": "free", "status": ...} or {"id": "free", "reset": ...}; "end" exits.
// Usage: node h2-unread-bodies-client.js HOST PORT CONNECTIONS STREAMS BYTES AT_LEAST
const http2 = require('http2');
const readline = require('readline');
const [host, port, connections, perConnection, bytes, atLeast] = process.argv.slice(2);
const sessions = [];
let resets = 0;
for (let c = 0; c < Number(connections); c++) {
  const session = http2.connect(`http://${host}:${port}`, { localAddress: host });
  session.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
  const streams = [];
  for (let i = 0; i < Number(perConnection); i++) {
    const req = session.request({ ':method': 'POST', ':path': `/unread${c}-${i}` }, { endStream: false });
    req.on('error', () => {});
    req.on('close', () => { if (req.rstCode) resets++; });
    req.on('response', () => {});
    req.write(Buffer.alloc(Number(bytes), 'b'));
    streams.push(req);
  }
  sessions.push({ session, streams });
}
// Stalled: at least AT_LEAST bytes written, then none for 50 polls (a second); HTTP/2 gives the client no per-stream
// view of its send windows, so quiet is the sign that every window it was given is spent, and AT_LEAST keeps a pause of a
// loaded machine before the windows were spent from passing for it.
let last = -1, quiet = 0;
const poll = setInterval(() => {
  const written = sessions.reduce((n, s) => n + (s.session.socket ? s.session.socket.bytesWritten : 0), 0);
  quiet = written === last && written >= Number(atLeast) ? quiet + 1 : 0;
  last = written;
  if (quiet === 50) {
    clearInterval(poll);
    console.log(`stalled ${resets} ${written}`);
  }
}, 20);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'free') {
    const session = http2.connect(`http://${host}:${port}`, { localAddress: host });
    session.on('error', (e) => console.log(JSON.stringify({ id: 'free', error: e.message })));
    const req = session.request({ ':method': 'POST', ':path': '/free' });
    let status;
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', () => {});
    req.on('end', () => console.log(JSON.stringify({ id: 'free', status })));
    req.on('error', (e) => console.log(JSON.stringify({ id: 'free', reset: e.message })));
    req.end(Buffer.alloc(200000, 'f'));
  }
  if (cmd === 'end') process.exit(0);
});
