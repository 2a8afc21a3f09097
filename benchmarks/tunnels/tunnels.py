#!/usr/bin/env python3
"""Echo app and tunnel generator for benchmarks/tunnels.sh (issue 14: RSS with N open tunnels).

  tunnels.py echo HOST PORT                  echo every byte back, forever
  tunnels.py sink HOST PORT                  read and drop every byte, forever
  tunnels.py send MB STREAMS SRC HOST PORT   send MB MiB split over STREAMS connections from SRC; returns
                                             once the sink has read every byte of them (its close came back)
  tunnels.py hold N SRC_IP HOST PORT READY   open N connections from SRC_IP, prove each with a
                                             1-byte echo, write "open N" to READY, hold them
                                             until stdin closes
A connection counts only once its echo came back, so every counted tunnel crossed both proxies.
"""
import asyncio
import socket
import sys
import threading


async def serve(host, port, echo):
    """The app: echoes every byte back (echo) or reads and drops them (sink); closes after the peer's FIN."""
    async def handle(reader, writer):
        try:
            while data := await reader.read(262144):
                if echo:
                    writer.write(data)
                    await writer.drain()
        except ConnectionError:
            pass
        writer.close()
    server = await asyncio.start_server(handle, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def send(mib, streams, src, host, port):
    chunk = b"z" * 65536
    per_stream = mib * 16 // streams  # 64 KiB chunks per stream
    errors = []

    def one():
        try:
            with socket.create_connection((host, port), source_address=(src, 0)) as s:
                for _ in range(per_stream):
                    s.sendall(chunk)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):  # the sink closes after reading everything
                    pass
        except OSError as e:
            errors.append(e)
    threads = [threading.Thread(target=one) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"send: {len(errors)} streams failed, first: {errors[0]!r}")


async def hold(n, src, host, port, ready_file):
    conns = []
    sem = asyncio.Semaphore(64)  # opens in flight; the proxies' accept queues stay short

    async def one(i):
        async with sem:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(src, 0))
            writer.write(b"x")
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(1), 30)
            if got != b"x":
                raise RuntimeError(f"tunnel {i}: echo returned {got!r}")
            conns.append((reader, writer))

    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    with open(ready_file, "w") as f:
        f.write(f"open {len(conns)} failed {len(errors)}\n")
    if errors:
        print(f"first failure: {errors[0]!r}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # held until the caller closes stdin
    for _, w in conns:
        w.close()


if __name__ == "__main__":
    if sys.argv[1] in ("echo", "sink"):
        asyncio.run(serve(sys.argv[2], int(sys.argv[3]), sys.argv[1] == "echo"))
    elif sys.argv[1] == "send":
        send(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        asyncio.run(hold(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]))
