package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An embedded mesh serving at an address that a workload without identity also has (an EndpointSlice endpoint: a VM
 * behind a selectorless Service lists its own IP) is reached: such a workload is no registry workload to the inbound
 * side. Right after EndpointSlices were read, every tunnel to the handler was refused 400 "destination ... is null" (a
 * review pass). Loopback 127.0.86.x.
 */
@Timeout(60)
class ServeAtSliceAddressTest {
    @Test
    void aHandlerAtAnIdentityLessWorkloadsAddressIsServed() throws Exception {
        InetAddress vm = InetAddress.getByName("127.0.86.20");
        Workload slice = new Workload("prod", "vm-svc-127.0.86.20", null, Map.of(), List.of(vm), Workload.Protocol.TCP, null,
                "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(slice), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        io.spiffe.spiffeid.SpiffeId vmId = SpiffeIds.istio("cluster.local", "prod", "vm");
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(vmId).workloads(registry)
                     .inbound(new InetSocketAddress(vm, 0)).threads(1).build();
             Mesh client = Mesh.builder().identityProvider(ca).identity(SpiffeIds.istio("cluster.local", "prod", "web")).threads(1).build();
             HboneServerSocket handler = new HboneServerSocket()) {
            server.serve(new InetSocketAddress(vm, 8080), handler);
            server.start().get(10, TimeUnit.SECONDS);
            handler.setSoTimeout(10_000);
            try (HboneSocket s = client.connect(SpiffeIds.istio("cluster.local", "prod", "web"), new InetSocketAddress(vm, 8080),
                    new Route(server.inboundAddress(), vmId)).get(10, TimeUnit.SECONDS).toSocket();
                 HboneSocket accepted = handler.accept()) {
                s.getOutputStream().write(7);
                s.getOutputStream().flush();
                assertThat(accepted.getInputStream().read()).isEqualTo(7);
            }
        } finally {
            ca.close();
        }
    }
}
