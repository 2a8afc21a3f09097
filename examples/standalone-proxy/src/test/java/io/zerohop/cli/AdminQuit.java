package io.zerohop.cli;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** POST /quitquitquit to an in-process proxy's admin listener, for tests that then check its exit code. */
final class AdminQuit {
    private AdminQuit() {}

    /**
     * Asks the proxy at {@code hostPort} to stop. The proxy may stop before its 200 is out (a known
     * race: the answer is written on an event loop the stop is shutting down), so a lost answer is
     * not an error here: the caller's check of the exit code decides. The timeout is why this is a
     * helper: a CI run hung on an answer that never came, with the proxy gone and the admin
     * connection left open (1 December, KubernetesOptionTest, after the proxy had exited 0).
     */
    static void quit(String hostPort) throws InterruptedException {
        try {
            HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + hostPort + "/quitquitquit"))
                    .timeout(Duration.ofSeconds(5)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.discarding());
        } catch (IOException stopping) {
            // The exit code decides (above).
        }
    }
}
