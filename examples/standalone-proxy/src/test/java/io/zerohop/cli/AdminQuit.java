package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** POST /quitquitquit to an in-process proxy's admin listener, for tests that then check its exit code. */
final class AdminQuit {
    private AdminQuit() {}

    /**
     * Asks the proxy at {@code hostPort} to stop and asserts its answer, ztunnel's 200 "shutdown now"
     * (istio/ztunnel src/admin.rs {@code handle_server_shutdown}): the proxy starts its stop only
     * once that answer is written (HttpEndpoint.Response#thenRun), so a missing answer is a failure.
     * The timeout ({@link Hang#BOUND}) is a guard, not a wait: a CI run hung on an answer that never came, with the
     * proxy gone and its admin connection left open (1 December, KubernetesOptionTest); closing the
     * admin server now closes that connection too (HttpEndpointServerTest).
     */
    static void quit(String hostPort) throws InterruptedException {
        HttpResponse<String> r;
        try {
            r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + hostPort + "/quitquitquit"))
                    .timeout(Hang.BOUND).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new AssertionError("no answer to POST /quitquitquit from " + hostPort + ": " + e, e);
        }
        assertThat(r.statusCode()).as("/quitquitquit's status").isEqualTo(200);
        assertThat(r.body()).as("/quitquitquit's body").isEqualTo("shutdown now\n");
    }
}
