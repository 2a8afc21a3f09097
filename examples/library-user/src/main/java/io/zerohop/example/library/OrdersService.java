package io.zerohop.example.library;

import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.policy.PolicyEngine;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An "orders" service with zerohop embedded: it accepts HBONE tunnels (mutual TLS 1.3, HTTP/2
 * CONNECT) on its own listener, the policy engine authorizes each one, and the authorized ones reach
 * a blocking accept loop in this process. No sidecar, no node proxy, no TCP port for the app.
 *
 * <p>Protocol: one line in ({@code order <id>}), one line out ({@code order <id> for <caller's
 * SPIFFE ID>}), then the service ends its direction.
 */
public final class OrdersService implements AutoCloseable {
    /** The port the service is addressed on (inside the tunnel's CONNECT target). */
    public static final int APP_PORT = 8080;

    private final Mesh mesh;
    private final HboneServerSocket sockets;
    private final Thread acceptor;
    private final InetSocketAddress appAddress;

    private OrdersService(Mesh mesh, HboneServerSocket sockets, InetSocketAddress appAddress) {
        this.mesh = mesh;
        this.sockets = sockets;
        this.appAddress = appAddress;
        this.acceptor = new Thread(this::acceptLoop, "orders-acceptor");
        this.acceptor.setDaemon(true);
    }

    /**
     * Starts the service as {@code self}, listening for HBONE on {@code hboneBind} (port 0: any free
     * port, see {@link #hboneAddress()}).
     *
     * @param identity where SVIDs come from (an {@code InMemoryCa} in tests, PEM files or SPIRE in production)
     * @param registry the workloads; {@code self} must be in it with a {@code node} naming this process
     * @param policy   authorizes each caller; null allows every authenticated caller
     * @throws ExecutionException when the listener cannot bind (e.g. the port is taken)
     */
    public static OrdersService start(IdentityProvider identity, WorkloadRegistry registry, Workload self, String node,
                                      PolicyEngine policy, InetSocketAddress hboneBind)
            throws InterruptedException, ExecutionException, TimeoutException {
        InetSocketAddress app = new InetSocketAddress(self.addresses().get(0), APP_PORT);
        Mesh.Builder builder = Mesh.builder()
                .identityProvider(identity)
                .identity(self.identity())
                .workloads(registry)
                .node(node)
                .inbound(hboneBind)
                .threads(1)
                .drain(java.time.Duration.ZERO);
        if (policy != null) {
            // Mesh.Builder.policies refuses null: unset is how a mesh allows every authenticated caller.
            builder.policies(policy);
        }
        Mesh mesh = builder.build();
        HboneServerSocket sockets = new HboneServerSocket();
        mesh.serve(app, sockets);
        try {
            mesh.start().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException | InterruptedException e) {
            mesh.close();
            throw e;
        }
        OrdersService service = new OrdersService(mesh, sockets, app);
        service.acceptor.start();
        return service;
    }

    /** The bound HBONE listener (with the port the kernel chose when bound on port 0). */
    public InetSocketAddress hboneAddress() {
        return mesh.inboundAddress();
    }

    /** The address callers name as the tunnel's target. */
    public InetSocketAddress appAddress() {
        return appAddress;
    }

    private void acceptLoop() {
        while (true) {
            HboneSocket s;
            try {
                s = sockets.accept();
            } catch (SocketException closed) {
                return;
            } catch (IOException e) {
                return;
            }
            Thread t = new Thread(() -> answer(s), "orders-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void answer(HboneSocket s) {
        try (s) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            String line = in.readLine();
            OutputStream out = s.getOutputStream();
            out.write((line + " for " + s.peerIdentity() + "\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            s.shutdownOutput();
            in.read(); // wait for the caller's end so close() ends a finished stream instead of resetting it
        } catch (IOException e) {
            // the caller went away: nothing to answer
        }
    }

    @Override
    public void close() throws IOException {
        sockets.close();
        mesh.close();
    }
}
