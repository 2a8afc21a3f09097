package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import java.util.List;

/**
 * The upgrades an HTTP/1 request may ask for, as Istio's Envoy allows them, decided before RBAC:
 * after a {@code 101} the connection carries bytes no filter sees, so an upgrade RBAC allowed once
 * must not turn into a protocol that carries more requests.
 * <ul>
 *   <li>{@code Upgrade: h2c} is removed, with the {@code upgrade} and {@code http2-settings} tokens of
 *       {@code Connection} and the {@code HTTP2-Settings} header: the request goes on as plain
 *       HTTP/1.1 (envoyproxy/envoy source/common/http/http1/codec_impl.cc, "removing unsupported h2c
 *       upgrade headers", envoy#7161). Forwarded, it let an application that speaks h2c answer 101
 *       and then serve every HTTP/2 stream of the connection unchecked;
 *   <li>any other upgrade ({@code Connection} naming {@code upgrade} and an {@code Upgrade} header)
 *       but {@code websocket} is refused with 403 and the connection closed: istiod configures the
 *       connection manager with {@code upgrade_configs: [{upgrade_type: websocket}]} only
 *       (istio/istio pilot/pkg/networking/core/listener_builder.go), and Envoy answers an upgrade no
 *       config accepts with 403 ({@code upgrade_failed}, conn_manager_impl.cc, which closes the
 *       connection against upgrade-payload smuggling);
 *   <li>an {@code Upgrade} header without the {@code Connection} token is no upgrade, and is removed
 *       as the hop-by-hop header it is (Envoy's {@code mutateRequestHeaders} removes it), so no
 *       application can take it for one.
 * </ul>
 */
final class UpgradeHeaders {
    private UpgradeHeaders() {}

    /** @return null when {@code req} may go on (rewritten as above), else why it is refused (403) */
    static String apply(HttpRequest req) {
        HttpHeaders h = req.headers();
        List<String> upgrades = h.getAll(HttpHeaderNames.UPGRADE);
        if (upgrades.isEmpty()) {
            return null;
        }
        boolean connectionUpgrade = hasToken(h.getAll(HttpHeaderNames.CONNECTION), "upgrade");
        String value = String.join(",", upgrades).trim();
        if (!connectionUpgrade) {
            h.remove(HttpHeaderNames.UPGRADE);
            return null;
        }
        if (value.equalsIgnoreCase("h2c")) {
            h.remove(HttpHeaderNames.UPGRADE);
            h.remove("http2-settings");
            NominatedHeaders.dropTokens(h, List.of("upgrade", "http2-settings"));
            return null;
        }
        // The token was found above (hasToken's reading of Connection): only the value's rule is asked for, the one
        // `zerohop policy check` applies too.
        return io.zerohop.core.HeaderValidation.upgradeRefusal("upgrade", value).orElse(null);
    }

    private static boolean hasToken(List<String> values, String token) {
        for (String v : values) {
            for (String t : v.split(",")) {
                if (t.trim().equalsIgnoreCase(token)) {
                    return true;
                }
            }
        }
        return false;
    }
}
