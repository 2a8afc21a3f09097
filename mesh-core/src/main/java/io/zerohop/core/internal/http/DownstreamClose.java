package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.zerohop.core.internal.LivePlaintext;
import io.zerohop.core.internal.TunnelCount;

/**
 * The {@code %RESPONSE_CODE_DETAILS%} of a request whose client's connection ended under it, as Envoy's connection manager
 * sets them on the streams of a downstream connection that closed (envoyproxy/envoy source/common/http/conn_manager_impl.cc
 * {@code onEvent}: {@code downstream_remote_disconnect} for a {@code RemoteClose}; for a {@code LocalClose}, Envoy's own,
 * {@code ResponseCodeDetails::DownstreamLocalDisconnect}, {@code downstream_local_disconnect(<reason>)} with the reason
 * its closer gave the connection, {@code Connection::localCloseReason}; conn_manager_impl_test.cc
 * {@code DownstreamConnectionTermination} raises a {@code LocalClose}). The flag is {@code DC} either way. zerohop's own
 * closes of a client's connection carry the reason of Envoy's closer of the same kind:
 * <ul>
 * <li>the drain's deadline cutting a connection ({@link TunnelCount#cutByDrain}): Envoy's listener, removed once its
 * drain time is over, closes what is left with {@code purging_socket_that_have_not_progressed_to_connections}
 * (source/common/listener_manager/active_tcp_listener.cc {@code ~ActiveTcpListener}; a drained filter chain's
 * connections get {@code filter_chain_is_being_removed}, active_stream_listener_base.cc {@code removeFilterChain});</li>
 * <li>a policy change denying the connection ({@link LivePlaintext#deniedByPolicy}, zerohop's own rule beyond Envoy):
 * Envoy's network RBAC filter's close of a denied connection, {@code rbac_deny_close}
 * (source/extensions/filters/network/rbac/rbac_filter.cc {@code closeConnection}).</li>
 * </ul>
 * Any other end is the client's: {@code downstream_remote_disconnect}. Until 7 December every end was.
 */
final class DownstreamClose {
    static final String REMOTE = "downstream_remote_disconnect";

    private DownstreamClose() {}

    /** Whether zerohop itself is closing {@code client} (marked before its reset), not the client. Any thread. */
    static boolean local(Channel client) {
        return !details(client).equals(REMOTE);
    }

    /** The details for a request whose client's connection {@code client} ended under it. Any thread. */
    static String details(Channel client) {
        String reason = client == null ? null
                : TunnelCount.cutByDrain(client) ? "purging_socket_that_have_not_progressed_to_connections"
                : LivePlaintext.deniedByPolicy(client) ? "rbac_deny_close"
                : null;
        return reason == null ? REMOTE : "downstream_local_disconnect(" + reason + ")";
    }
}
