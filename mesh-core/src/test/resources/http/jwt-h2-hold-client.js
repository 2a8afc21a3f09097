// Node's http2 client for L7JwtHoldTest: several requests on one connection, each answer a line of JSON as it comes:
// {"id": ..., "status": ..., "headers": {...}, "body": "..."} or {"id": ..., "reset": "MESSAGE"}; "sent ID" once a
// request's headers (and body, if any) are written, "written ID" once its body is handed to the socket. Commands on
// stdin, one a line: "reset ID" resets that stream (CANCEL), "more ID" sends the rest of a request's body (its "more"
// bytes) and ends it, "end" closes the session.
// Usage: node jwt-h2-hold-client.js HOST PORT REQUESTS_JSON, REQUESTS_JSON an array of
// {"id": ..., "headers": {":path": ...}, "body": BYTES (optional), "end": true|false (default true),
// "more": BYTES (optional: that much more body on "more ID", and only then the end)}.
const http2 = require('http2');
const readline = require('readline');
const [host, port, json] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`, { localAddress: host });
session.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
const streams = {};
const more = {};
for (const r of JSON.parse(json)) {
  const req = session.request(r.headers, { endStream: false });
  streams[r.id] = req;
  if (r.more) more[r.id] = r.more;
  let head = {}, body = '';
  req.on('response', (h) => { head = h; });
  req.setEncoding('utf8');
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const headers = {};
    for (const [k, v] of Object.entries(head)) if (!k.startsWith(':')) headers[k] = v;
    console.log(JSON.stringify({ id: r.id, status: head[':status'], headers, body }));
  });
  req.on('error', (e) => console.log(JSON.stringify({ id: r.id, reset: e.message })));
  req.on('close', () => { if (req.rstCode && req.rstCode !== 0 && !head[':status']) console.log(JSON.stringify({ id: r.id, reset: 'code ' + req.rstCode })); });
  const write = r.body ? Buffer.alloc(r.body, 'b') : null;
  // "written ID" once the body so far is on its way (its last byte handed to the socket).
  if (write) req.write(write, () => console.log(`written ${r.id}`));
  if (r.end !== false && !r.more) req.end();
  // A line once the body is handed to the session, so that a test resets a stream whose DATA was sent.
  req.on('ready', () => setImmediate(() => console.log(`sent ${r.id}`)));
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, id] = line.trim().split(' ');
  if (cmd === 'reset') streams[id].close(http2.constants.NGHTTP2_CANCEL);
  if (cmd === 'more') streams[id].end(Buffer.alloc(more[id], 'b'));
  if (cmd === 'end') { session.close(); process.exit(0); }
});
