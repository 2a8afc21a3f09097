package io.zerohop.hbone.interop;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** One run of {@code hbone-client.js}: exit code, its JSON report and its full output. */
record NodeRun(int exit, Map<String, Object> report, String output) {

    /**
     * Runs the Node HBONE client to completion.
     *
     * @param mode {@code halfclose} or {@code count} (see the script)
     */
    static NodeRun client(Path dir, String hbone, String authority, Pki.PemFiles identity, Path caFile,
                          String expectedServer, long bytes, int streams, String mode) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Peers.node().toString(), Peers.nodeScript("hbone-client.js").toString(),
                hbone, authority, identity.certPath(), identity.keyPath(), caFile.toString(), expectedServer,
                Long.toString(bytes), Integer.toString(streams), mode));
        try (PeerProcess p = PeerProcess.start("node-client", cmd, dir)) {
            int exit = p.awaitExit(Duration.ofSeconds(40));
            List<String> out = p.stdoutLines();
            String last = out.stream().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
                    .orElseThrow(() -> new AssertionError("hbone-client.js printed no JSON report (exit " + exit + ")\n" + p.output()));
            return new NodeRun(exit, Json.object(last), p.output());
        }
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> first() {
        return (Map<String, Object>) report.get("first");
    }

    @Override
    public String toString() {
        return "exit " + exit + ", report " + report + "\n" + output;
    }
}
