// Node's http2 client for the JWT tests (L7JwtTest): one request, then one line of JSON:
// {"status": ..., "headers": {...}, "body": "..."} (a reset stream: {"reset": "MESSAGE"}).
// Usage: node jwt-h2-client.js HOST PORT HEADERS_JSON, HEADERS_JSON the header block (":path" at least). The client's
// own address is HOST too.
const http2 = require('http2');
const [host, port, json] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`, { localAddress: host });
session.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(0); });
const req = session.request(JSON.parse(json));
let head = {}, body = '';
req.on('response', (h) => { head = h; });
req.setEncoding('utf8');
req.on('data', (d) => { body += d; });
req.on('end', () => {
  const headers = {};
  for (const [k, v] of Object.entries(head)) if (!k.startsWith(':')) headers[k] = v;
  console.log(JSON.stringify({ status: head[':status'], headers, body }));
  session.close();
});
req.on('error', (e) => { console.log(JSON.stringify({ reset: e.message })); session.close(); });
req.end();
