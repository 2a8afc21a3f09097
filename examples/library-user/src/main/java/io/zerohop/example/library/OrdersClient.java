package io.zerohop.example.library;

import io.zerohop.core.Mesh;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** The caller's side: a plain {@link java.net.Socket} from {@link Mesh#socketFactory()}. */
public final class OrdersClient {
    private OrdersClient() {}

    /**
     * Asks the orders service at {@code orders} (its app address, looked up in the caller's
     * registry) for {@code order}; returns the answer line.
     *
     * @throws IOException when the tunnel is refused (an {@code HboneRefusedException} with 401
     *                     when the policy denies this caller) or fails
     */
    public static String order(Mesh caller, InetSocketAddress orders, String order) throws IOException {
        try (Socket s = caller.socketFactory().createSocket(orders.getAddress(), orders.getPort())) {
            s.getOutputStream().write(("order " + order + "\n").getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            s.shutdownOutput();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            return in.readLine();
        }
    }
}
