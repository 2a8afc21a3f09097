package io.zerohop.hbone.interop;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * An nghttpx process with its frontend on a free loopback port. The port is found by binding port 0
 * and closing; should another process take it meanwhile, nghttpx exits at bind and is started again
 * on another port. Ready when its worker reports it was created (the listener exists by then).
 */
final class Nghttpx implements AutoCloseable {
    final PeerProcess process;
    final int port;

    private Nghttpx(PeerProcess process, int port) {
        this.process = process;
        this.port = port;
    }

    InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    /**
     * @param args nghttpx arguments for a frontend port (without the binary; {@code --conf=/dev/null},
     *             {@code --workers=1} and logging options are added)
     */
    static Nghttpx start(IntFunction<List<String>> args, Path dir) throws IOException, InterruptedException {
        Path binary = Peers.nghttpx();
        String lastOutput = "";
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = freePort();
            List<String> cmd = new ArrayList<>();
            cmd.add(binary.toString());
            cmd.add("--conf=/dev/null"); // never read /etc/nghttpx/nghttpx.conf
            cmd.add("--workers=1");
            cmd.add("--errorlog-file=/dev/stderr");
            cmd.add("--accesslog-file=/dev/stdout");
            cmd.addAll(args.apply(port));
            PeerProcess p = PeerProcess.start("nghttpx", cmd, dir);
            String ready = p.awaitStderrOrEnd(l -> l.contains("Created worker thread"), Duration.ofSeconds(15));
            if (ready != null) {
                return new Nghttpx(p, port);
            }
            lastOutput = p.output();
            p.close();
        }
        throw new AssertionError("nghttpx did not start\n" + lastOutput);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        process.close();
    }
}
