/**
 * HBONE tunnels as ztunnel speaks them: {@link HboneClient} (pooled, multiplexed),
 * {@link HboneServer}, and the channel and socket adapters for a tunnel.
 */
package io.zerohop.hbone;
