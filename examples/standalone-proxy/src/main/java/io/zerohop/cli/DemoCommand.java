package io.zerohop.cli;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code zerohop demo}: the whole data plane in one JVM on embedded defaults. An in-memory CA,
 * three workloads on loopback addresses, a plain TCP echo app behind an HBONE listener, and an
 * Istio policy that lets one caller in and keeps another out; real TLS, real tunnels.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the embedded demo: in-memory CA, three workloads on loopback, real HBONE tunnels, one allowed and one denied caller.")
final class DemoCommand implements Callable<Integer> {
    static final String TD = "cluster.local";
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: backend-allow-frontend
              namespace: prod
            spec:
              selector:
                matchLabels:
                  app: backend
              action: ALLOW
              rules:
              - from:
                - source:
                    principals: ["cluster.local/ns/prod/sa/frontend"]
                to:
                - operation:
                    ports: ["8080"]
            """;

    @Option(names = "--bytes", defaultValue = "1048576", description = "Bytes each allowed caller echoes, default ${DEFAULT-VALUE}")
    int bytes;

    @Override
    public Integer call() throws Exception {
        // A report, not a log: only warnings (the policy denial names both identities) interleave.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        InetAddress backendIp = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, null, TD);
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.0.3")), Workload.Protocol.HBONE, null, TD);
        Workload legacy = new Workload("legacy", "old-batch", "old", Map.of("app", "old-batch"),
                List.of(InetAddress.getByName("127.0.0.4")), Workload.Protocol.HBONE, null, TD);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend, legacy), Map.of());
        InMemoryCa ca = InMemoryCa.create(TD);
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("demo-policy.yaml", POLICY)).build();
        SimpleMeterRegistry meters = new SimpleMeterRegistry();

        System.out.println("zerohop demo: in-memory CA for trust domain " + TD + ", TLS provider " + MeshTls.defaultProvider()
                + ", 3 workloads on loopback");
        System.out.println("policy  : prod/backend-allow-frontend (AuthorizationPolicy ALLOW from cluster.local/ns/prod/sa/frontend to port 8080)");

        try (ServerSocket app = new ServerSocket(8080, 50, backendIp);
             Mesh backendMesh = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .policies(policy).inbound(new InetSocketAddress(backendIp, 15008)).meterRegistry(meters).threads(2).build();
             Mesh callers = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build()) {
            Thread echo = new Thread(() -> echo(app), "demo-backend-app");
            echo.setDaemon(true);
            echo.start();
            backendMesh.start().get(10, TimeUnit.SECONDS);
            System.out.println("backend : plain TCP echo app on 127.0.0.2:8080, zerohop HBONE listener on "
                    + backendMesh.inboundAddress() + " presenting " + backend.identity());
            System.out.println();
            int failures = 0;
            failures += call(callers, frontend.identity(), new InetSocketAddress(backendIp, 8080), true);
            failures += call(callers, legacy.identity(), new InetSocketAddress(backendIp, 8080), false);
            System.out.println();
            System.out.printf("metrics : istio_tcp_connections_opened_total %.0f, istio_tcp_sent_bytes_total %.0f (reporter=destination)%n",
                    sum(meters, "istio.tcp.connections.opened"), sum(meters, "istio.tcp.sent.bytes"));
            System.out.println(failures == 0 ? "result  : as the policy says" : "result  : " + failures + " unexpected outcome(s)");
            return failures == 0 ? 0 : 1;
        }
    }

    private int call(Mesh mesh, SpiffeId source, InetSocketAddress target, boolean expectAllowed) throws Exception {
        byte[] payload = new byte[bytes];
        new SecureRandom().nextBytes(payload);
        long t0 = System.nanoTime();
        String who = String.format("%-42s -> prod/backend %s", source, io.zerohop.core.Addresses.authority(target));
        try (Socket s = mesh.socketFactory(source).createSocket(target.getAddress(), target.getPort())) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            Thread writer = new Thread(() -> {
                try {
                    out.write(payload);
                    s.shutdownOutput();
                } catch (Exception ignored) {
                    // the reader reports the failure
                }
            });
            writer.start();
            byte[] back = in.readAllBytes();
            writer.join();
            boolean same = MessageDigest.isEqual(sha256(payload), sha256(back));
            double ms = (System.nanoTime() - t0) / 1e6;
            String peer = s instanceof HboneSocket h ? String.valueOf(h.peerIdentity()) : "?";
            System.out.printf("ALLOWED %s: 200, echoed %d KiB, sha256 %s, %.1f ms, server identity %s%n",
                    who, back.length / 1024, same ? "match" : "MISMATCH " + HexFormat.of().formatHex(sha256(back)), ms, peer);
            return expectAllowed && same ? 0 : 1;
        } catch (Exception e) {
            Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            while (c.getCause() != null && !(c instanceof HboneRefusedException)) {
                c = c.getCause();
            }
            String status = c instanceof HboneRefusedException r ? Integer.toString(r.status()) : c.getClass().getSimpleName();
            System.out.printf("DENIED  %s: %s %s%n", who, status, Cli.describe(c));
            // Only a refusal by the server's policy counts as the expected denial; a timeout does not.
            return !expectAllowed && c instanceof HboneRefusedException ? 0 : 1;
        }
    }

    private static byte[] sha256(byte[] b) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }

    private static double sum(SimpleMeterRegistry r, String name) {
        return r.find(name).counters().stream().mapToDouble(Counter::count).sum();
    }

    private static void echo(ServerSocket server) {
        while (!server.isClosed()) {
            try {
                Socket c = server.accept();
                Thread t = new Thread(() -> {
                    try (c) {
                        c.getInputStream().transferTo(c.getOutputStream());
                        c.shutdownOutput();
                    } catch (Exception ignored) {
                        // a reset from the proxy ends this connection; nothing to report
                    }
                });
                t.setDaemon(true);
                t.start();
            } catch (Exception e) {
                return;
            }
        }
    }
}
