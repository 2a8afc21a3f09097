import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

/**
 * A throw-away Kubernetes API server for the class-data-sharing training run of Kubernetes mode
 * (deploy/train-cds.sh; the image builds it, where no cluster is reachable). It serves, on loopback
 * over plain HTTP/1.1, what a node proxy's informers ask for: a list answers one Namespace
 * (ambient), one Service and one Pod of node {@code train} (so the proxy strips, converts and serves
 * a workload as in a cluster), and an empty list for every other path (the policy kinds); a watch
 * ({@code watch=true}) answers 200 and then stays open without events until the client closes it.
 * Not an API server: no authentication, no paging, no resourceVersion semantics; nothing but the
 * training run may use it.
 *
 * <p>{@code java -cp DIR TrainingApiServer}: listens on 127.0.0.1 on a port the kernel picks, prints
 * {@code training api server on 127.0.0.1:PORT}, serves until killed. Only java.base (it runs on the
 * image's JRE).
 */
public final class TrainingApiServer {
    private static final String NAMESPACE = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"train\","
            + "\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000001\","
            + "\"labels\":{\"istio.io/dataplane-mode\":\"ambient\",\"kubernetes.io/metadata.name\":\"train\"}}}";
    private static final String SERVICE = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"train\","
            + "\"namespace\":\"train\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000002\","
            + "\"labels\":{\"app\":\"train\"}},\"spec\":{\"selector\":{\"app\":\"train\"},\"clusterIP\":\"10.96.0.10\","
            + "\"clusterIPs\":[\"10.96.0.10\"],\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\","
            + "\"targetPort\":\"http\",\"appProtocol\":\"http\"}],\"type\":\"ClusterIP\"}}";
    private static final String POD = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"train-0\","
            + "\"namespace\":\"train\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000003\","
            + "\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generateName\":\"train-\","
            + "\"labels\":{\"app\":\"train\",\"version\":\"v1\"},"
            + "\"annotations\":{\"ambient.istio.io/redirection\":\"enabled\"},"
            + "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"train-1\","
            + "\"uid\":\"00000000-0000-0000-0000-000000000004\",\"controller\":true,\"blockOwnerDeletion\":true}],"
            + "\"managedFields\":[{\"manager\":\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
            + "\"time\":\"2026-01-01T00:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{\"f:phase\":{}}},"
            + "\"subresource\":\"status\"}]},"
            + "\"spec\":{\"serviceAccountName\":\"train\",\"nodeName\":\"train\",\"containers\":[{\"name\":\"app\","
            + "\"image\":\"train:1\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],"
            + "\"env\":[{\"name\":\"A\",\"value\":\"b\"}],\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"}},"
            + "\"readinessProbe\":{\"httpGet\":{\"path\":\"/\",\"port\":\"http\"}}}],"
            + "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],"
            + "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
            + "\"tolerationSeconds\":300}]},"
            + "\"status\":{\"phase\":\"Running\",\"podIP\":\"127.0.0.1\",\"podIPs\":[{\"ip\":\"127.0.0.1\"}],"
            + "\"hostIP\":\"127.0.0.1\",\"hostIPs\":[{\"ip\":\"127.0.0.1\"}],\"qosClass\":\"Burstable\","
            + "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}],"
            + "\"containerStatuses\":[{\"name\":\"app\",\"ready\":true,\"restartCount\":0,\"image\":\"train:1\","
            + "\"imageID\":\"train@sha256:00\",\"started\":true,\"state\":{\"running\":{\"startedAt\":\"2026-01-01T00:00:00Z\"}}}]}}";

    private TrainingApiServer() {
    }

    public static void main(String[] args) throws IOException {
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        System.out.println("training api server on 127.0.0.1:" + server.getLocalPort());
        System.out.flush();
        while (true) {
            Socket s = server.accept();
            Thread t = new Thread(() -> serve(s), "train-api");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void serve(Socket s) {
        try (s) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
            OutputStream out = s.getOutputStream();
            String line;
            while ((line = in.readLine()) != null && !line.isEmpty()) {
                System.out.println(line);
                String target = line.split(" ")[1];
                int contentLength = 0;
                String webSocketKey = null;
                for (String h; (h = in.readLine()) != null && !h.isEmpty(); ) {
                    if (h.regionMatches(true, 0, "content-length:", 0, 15)) {
                        contentLength = Integer.parseInt(h.substring(15).trim());
                    } else if (h.regionMatches(true, 0, "sec-websocket-key:", 0, 18)) {
                        webSocketKey = h.substring(18).trim();
                    }
                }
                in.skip(contentLength);
                String path = target.contains("?") ? target.substring(0, target.indexOf('?')) : target;
                String query = target.contains("?") ? target.substring(target.indexOf('?') + 1) : "";
                if (("&" + query + "&").matches(".*&watch=(true|1)&.*")) {
                    // A watch: one bookmark event, then silence until the client goes. fabric8 7.5.2
                    // watches over a WebSocket (RFC 6455 upgrade) and falls back to a chunked HTTP
                    // response; an API server serves both.
                    byte[] bookmark = ("{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"" + kind(path)
                            + "\",\"metadata\":{\"resourceVersion\":\"1\"}}}\n").getBytes(StandardCharsets.UTF_8);
                    if (webSocketKey != null) {
                        out.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                + "Sec-WebSocket-Accept: " + accept(webSocketKey) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        // One unmasked text frame (server to client), payload under 126 bytes.
                        out.write(new byte[] {(byte) 0x81, (byte) bookmark.length});
                        out.write(bookmark);
                    } else {
                        out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                                .getBytes(StandardCharsets.ISO_8859_1));
                        out.write((Integer.toHexString(bookmark.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        out.write(bookmark);
                        out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    }
                    out.flush();
                    while (in.read() >= 0) {
                        // the client closes the watch when it stops
                    }
                    return;
                }
                byte[] body = list(path).getBytes(StandardCharsets.UTF_8);
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                out.write(body);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            // the client went away
        }
    }

    /** RFC 6455 section 4.2.2: base64(SHA-1(key + the protocol's GUID)). */
    private static String accept(String key) {
        try {
            byte[] sha1 = MessageDigest.getInstance("SHA-1")
                    .digest((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").getBytes(StandardCharsets.ISO_8859_1));
            return Base64.getEncoder().encodeToString(sha1);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The kind of one object at {@code path} (what a watch event's object is); "Unknown" for the policy kinds. */
    private static String kind(String path) {
        return switch (path) {
            case "/api/v1/pods" -> "Pod";
            case "/api/v1/services" -> "Service";
            case "/api/v1/namespaces" -> "Namespace";
            default -> "Unknown";
        };
    }

    private static String list(String path) {
        String kind;
        String item;
        if (path.equals("/api/v1/pods")) {
            kind = "PodList";
            item = POD;
        } else if (path.equals("/api/v1/services")) {
            kind = "ServiceList";
            item = SERVICE;
        } else if (path.equals("/api/v1/namespaces")) {
            kind = "NamespaceList";
            item = NAMESPACE;
        } else {
            kind = "List";
            item = "";
        }
        return "{\"apiVersion\":\"v1\",\"kind\":\"" + kind + "\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" + item + "]}";
    }
}
