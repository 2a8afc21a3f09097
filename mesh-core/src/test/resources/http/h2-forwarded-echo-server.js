// An h2c (prior knowledge) application answering with the x-request-id and x-forwarded-proto it received, each as
// JSON (undefined when absent). Usage: node h2-forwarded-echo-server.js HOST PORT ; prints the bound port on stdout.
const http2 = require('http2');
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`${headers[':path']} rid=${JSON.stringify(headers['x-request-id'])} xfp=${JSON.stringify(headers['x-forwarded-proto'])}`);
});
server.listen(Number(process.argv[3]), process.argv[2], () => console.log(server.address().port));
