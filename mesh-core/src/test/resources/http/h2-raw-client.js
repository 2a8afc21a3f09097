// Node's http2 client sending each request's header block as given (Node fills in :method and
// :scheme, and :authority only when neither :authority nor host is given), printing "status body"
// per line in order. Usage: node h2-raw-client.js PORT 'JSON headers object'...
const http2 = require('http2');
const [port, ...blocks] = process.argv.slice(2);
const session = http2.connect(`http://127.0.0.1:${port}`);
(async () => {
  for (const b of blocks) {
    await new Promise((resolve, reject) => {
      const req = session.request(JSON.parse(b));
      let status, body = '';
      req.on('response', (h) => { status = h[':status']; });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => { console.log(`${status} ${body}`); resolve(); });
      req.on('error', reject);
      req.end();
    });
  }
  session.close();
})().catch((e) => { console.error(e); process.exit(1); });
